"""`configd serve --workers N`: a supervisor and its workers, as real processes (issue 16).

Every wait is a poll of an observable condition with a deadline (worker_probes.py).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from configd.testing import ConfigdProcess
from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.server.worker_probes import Reader, alive, channel, configz, until, worker_pids


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[ConfigdProcess]:
    with ConfigdProcess(tmp_path / "data", workers=2) as server:
        until(lambda: len(worker_pids(server)) == 2, "both workers listed")
        yield server


def test_both_workers_serve_and_a_write_through_one_is_read_through_others(
    workers: ConfigdProcess,
) -> None:
    pids = worker_pids(workers)
    assert workers.pid not in pids  # the supervisor serves nothing itself
    answered: set[int] = set()
    until(lambda: answered.add(configz(workers)["pid"]) or answered == pids, "both answer")
    with channel(workers) as first:
        stub = pb_grpc.ConfigServiceStub(first)
        stub.CreateNamespace(pb.CreateNamespaceRequest(name="app"))
        put = stub.Put(pb.PutRequest(namespace="app", key="k", value_json='"v"'))

    def read_on_a_new_connection() -> bool:
        with channel(workers) as other:
            try:
                got = pb_grpc.ConfigServiceStub(other).Get(pb.GetRequest(namespace="app", key="k"))
            except grpc.RpcError as exc:
                code = exc.code()
            else:
                return bool((got.value_json, got.revision) == ('"v"', put.revision))
        assert code == grpc.StatusCode.NOT_FOUND  # that worker is catching up
        return False

    for _ in range(10):
        until(read_on_a_new_connection, "the write read on another connection", 10)
    # Every worker applied it, and says so in its status.
    until(
        lambda: all(w["revision"] == put.revision for w in configz(workers)["workers"]),
        "every worker's status at the write's revision",
    )


def test_a_killed_worker_is_replaced_while_the_other_serves_throughout(
    workers: ConfigdProcess,
) -> None:
    before = worker_pids(workers)
    kept = http.client.HTTPConnection(workers.http_addr, timeout=10)

    def read() -> int:
        kept.request("GET", "/debug/configz")
        return int(json.loads(kept.getresponse().read())["pid"])

    survivor = read()
    (victim,) = before - {survivor}
    reader = Reader(read)
    reader.start()
    os.kill(victim, signal.SIGKILL)
    until(lambda: len(worker_pids(workers) - before) == 1, "a replacement is listed")
    after = worker_pids(workers)
    until(lambda: len(reader.answers) > 10, "the reader keeps reading")
    reader.stop()
    kept.close()
    assert victim not in after
    assert after == {survivor, *(after - before)}
    assert len(after) == 2
    assert reader.failures == []
    assert set(reader.answers) == {survivor}
    until(lambda: "killed by SIGKILL" in workers.logs(), "the exit is logged")
    assert f"worker {victim} exited (killed by SIGKILL)" in workers.logs()


def test_sigterm_stops_every_worker(workers: ConfigdProcess) -> None:
    pids = worker_pids(workers)
    assert workers.stop() == 0
    assert not any(alive(pid) for pid in pids)
    assert list((workers.data_dir / "run").glob("worker-*.json")) == []


def test_rolling_replacement_replaces_every_worker_while_a_reader_reads(
    workers: ConfigdProcess,
) -> None:
    with channel(workers) as setup:
        stub = pb_grpc.ConfigServiceStub(setup)
        stub.CreateNamespace(pb.CreateNamespaceRequest(name="app"))
        stub.Put(pb.PutRequest(namespace="app", key="k", value_json="1"))
    until(
        lambda: all(w["revision"] == 2 for w in configz(workers)["workers"]),
        "both workers applied the write",
    )
    before = worker_pids(workers)
    reading = channel(workers)
    reader_stub = pb_grpc.ConfigServiceStub(reading)
    retried: list[grpc.StatusCode] = []

    def read() -> str:
        # A call that reached a worker in the instant its stop began is answered CANCELLED
        # and was not run (the single-process stop contract): a client retries it once.
        request = pb.GetRequest(namespace="app", key="k")
        try:
            return str(reader_stub.Get(request, timeout=10, wait_for_ready=True).value_json)
        except grpc.RpcError as exc:
            if exc.code() not in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE):
                raise
            retried.append(exc.code())
        return str(reader_stub.Get(request, timeout=10, wait_for_ready=True).value_json)

    reader = Reader(read)
    reader.start()
    until(lambda: len(reader.answers) > 5, "the reader reads")
    os.kill(workers.pid, signal.SIGUSR2)
    until(lambda: "rolling replacement done" in workers.logs(), "the roll ends")
    after = worker_pids(workers)
    count = len(reader.answers)
    until(lambda: len(reader.answers) > count + 5, "the reader reads after the roll")
    reader.stop()
    reading.close()
    assert len(after) == 2
    assert not after & before
    assert reader.failures == []  # no read failed twice in a row
    assert set(reader.answers) == {"1"}
    assert len(retried) <= len(before)  # at most one per drained worker


def test_sighup_is_forwarded_to_every_worker(workers: ConfigdProcess) -> None:
    os.kill(workers.pid, signal.SIGHUP)
    until(lambda: workers.logs().count("reloading (") == 2, "both workers reload")


def test_one_worker_is_the_serving_process_with_no_supervisor(tmp_path: Path) -> None:
    with ConfigdProcess(tmp_path / "data", "--workers", "1") as server:
        page = configz(server)
        assert page["pid"] == server.pid
        assert "workers" not in page
        assert not (server.data_dir / "run").exists()


def serve_two_workers(data_dir: Path, listen: str) -> subprocess.CompletedProcess[str]:
    """`configd serve --workers 2` expected to fail at start: its exit and output."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "configd", "serve", "--no-auth", "--workers", "2"),
            *("--data-dir", str(data_dir), "--listen", listen, "--http-listen", "127.0.0.1:0"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_port_in_use_fails_the_supervisor_with_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve_two_workers(tmp_path / "data", f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"configd: cannot start: cannot listen on 127.0.0.1:{port} (--listen): the address is "
        "in use; stop the other server or choose another address with --listen"
    ]
    assert not (tmp_path / "data").exists()


def test_workers_stop_when_the_supervisor_is_killed(workers: ConfigdProcess) -> None:
    pids = worker_pids(workers)
    workers.kill()
    until(lambda: not any(alive(pid) for pid in pids), "the orphaned workers stop")


def test_a_worker_that_cannot_start_fails_the_supervisor(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    done = serve_two_workers(not_a_dir, "127.0.0.1:0")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    # The worker's own reason, once (one worker starts first), then the supervisor's line.
    reason = f"cannot create data directory {not_a_dir}: File exists"
    assert lines[0] == f"configd: cannot start: {reason}"
    assert len(lines) == 2
    assert lines[1].endswith(
        "cannot start the workers: a worker exited during start (exit status 1)"
    )
    assert done.stdout == ""


def maintainers(server: ConfigdProcess) -> set[int]:
    return {int(w["pid"]) for w in configz(server)["workers"] if w["maintainer"]}


def test_one_worker_is_the_maintainer_and_another_takes_over_when_it_dies(
    workers: ConfigdProcess,
) -> None:
    until(lambda: len(maintainers(workers)) == 1, "one maintainer listed")
    (first,) = maintainers(workers)
    assert first in worker_pids(workers)
    os.kill(first, signal.SIGKILL)
    # The survivor takes the maintenance lock over (the replacement finds it held).
    until(
        lambda: (m := maintainers(workers)) != {first} and len(m) == 1,
        "another worker becomes the maintainer",
    )
    assert maintainers(workers) <= worker_pids(workers)
    assert first not in worker_pids(workers)


def worker_channel(server: ConfigdProcess, pid: int) -> grpc.Channel:
    """A channel to one worker: its own gRPC socket (the one its gRPC-Web gateway uses)."""
    path = server.data_dir.resolve() / "run" / f"grpc-{pid}.sock"
    assert path.exists(), f"no socket {path} (a data directory path too long for one?)"
    return grpc.insecure_channel(f"unix:{path}")


def test_compact_through_either_worker_even_while_the_other_compacts(
    workers: ConfigdProcess,
) -> None:
    pids = sorted(worker_pids(workers))
    with channel(workers) as shared:
        stub = pb_grpc.ConfigServiceStub(shared)
        stub.CreateNamespace(pb.CreateNamespaceRequest(name="app"))
        for i in range(30):
            head = stub.Put(pb.PutRequest(namespace="app", key="k", value_json=str(i))).revision
    until(
        lambda: all(w["revision"] == head for w in configz(workers)["workers"]),
        "both workers at the head",
    )
    admins = {pid: worker_channel(workers, pid) for pid in pids}
    try:
        # One after the other, through each worker (one of them the maintainer) ...
        for target, pid in zip((5, 10), pids, strict=True):
            stub_of = admin_pb2_grpc.AdminServiceStub(admins[pid])
            reply = stub_of.Compact(admin_pb2.CompactRequest(revision=target), timeout=30)
            assert reply.compact_revision == target
        # ... and through both at once: serialised by the store's write lock, never lowered.
        results: dict[int, int] = {}

        def compact(pid: int, target: int) -> None:
            stub_of = admin_pb2_grpc.AdminServiceStub(admins[pid])
            reply = stub_of.Compact(admin_pb2.CompactRequest(revision=target), timeout=30)
            results[pid] = reply.compact_revision

        threads = [
            threading.Thread(target=compact, args=(pid, target))
            for pid, target in zip(pids, (20, 25), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(results.values()) in ([20, 25], [25, 25])
        for pid in pids:
            config = pb_grpc.ConfigServiceStub(admins[pid])

            def compacted(stub: pb_grpc.ConfigServiceStub = config) -> bool:
                view = stub.GetNamespace(pb.GetNamespaceRequest(name="app"))
                return bool(view.compact_revision == 25)

            until(compacted, "every worker knows the compaction revision")
            with pytest.raises(grpc.RpcError) as old:
                config.GetNamespace(pb.GetNamespaceRequest(name="app", revision=24))
            assert old.value.code() == grpc.StatusCode.OUT_OF_RANGE
            assert config.GetNamespace(
                pb.GetNamespaceRequest(name="app", revision=25)
            ).document_json
    finally:
        for admin in admins.values():
            admin.close()
