"""Releases end to end: a real server (SQLite; two replicas on PostgreSQL), real SDK clients
in their own processes.

Each client is tests/configd/release_client.py (ConfigClient with a client id, labels and,
where asked, a check that vetoes a value); it prints every document its readers can see, so
a test sees exactly what the service saw, and that a vetoed value never showed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from configd.core.releases import in_percent
from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2, config_pb2_grpc, release_pb2, release_pb2_grpc

NS = "payments/prod"
CLIENT = Path(__file__).resolve().parent / "release_client.py"
Doc = dict[str, Any]


class Service:
    """One SDK client process and every document it showed its readers."""

    def __init__(self, addr: str, client_id: str, *labels: str, refuse_above: str = "") -> None:
        command = [sys.executable, str(CLIENT), "--addr", addr, "--namespace", NS]
        command += ["--client-id", client_id]
        for label in labels:
            command += ["--label", label]
        if refuse_above:
            command += ["--refuse-above", refuse_above]
        self.client_id = client_id
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.seen: list[tuple[int, Doc]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            item = json.loads(line)
            with self._changed:
                self.seen.append((item["revision"], item["doc"]))
                self._changed.notify_all()

    @property
    def doc(self) -> Doc:
        with self._changed:
            return self.seen[-1][1] if self.seen else {}

    def wait(self, test: Callable[[Doc], bool], timeout: float = 15.0) -> Doc:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (self.seen and test(self.seen[-1][1])):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.client_id} never showed it; saw {self.seen}")
                self._changed.wait(left)
            return self.seen[-1][1]

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class Operator:
    """What configctl does, through the public stubs."""

    def __init__(self, addr: str) -> None:
        self.channel = grpc.insecure_channel(addr)
        self.config = config_pb2_grpc.ConfigServiceStub(self.channel)
        self.releases = release_pb2_grpc.ReleaseServiceStub(self.channel)

    def start(self, document: Doc, *selectors: str, **options: Any) -> int:
        request = release_pb2.StartReleaseRequest(
            namespace=NS,
            document_json=json.dumps(document),
            selectors=[
                release_pb2.LabelSelector(label=s.split("=")[0], value=s.split("=")[1])
                for s in selectors
            ],
            message=options.pop("message", "canary"),
            **options,
        )
        return int(self.releases.StartRelease(request).revision)

    def status(self, release_id: int = 0) -> release_pb2.GetReleaseResponse:
        return self.releases.GetRelease(
            release_pb2.GetReleaseRequest(namespace=NS, release_id=release_id)
        )

    def wait_status(
        self, test: Callable[[release_pb2.GetReleaseResponse], bool], timeout: float = 15.0
    ) -> release_pb2.GetReleaseResponse:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if test(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"release status never got there: {status}")
            time.sleep(0.1)

    def promote(self) -> int:
        request = release_pb2.EndReleaseRequest(namespace=NS, message="ship it")
        return int(self.releases.PromoteRelease(request).revision)

    def abort(self) -> int:
        request = release_pb2.EndReleaseRequest(namespace=NS, message="stop")
        return int(self.releases.AbortRelease(request).revision)

    def history(self) -> list[config_pb2.ChangeSet]:
        return list(self.config.History(config_pb2.HistoryRequest(namespace=NS)).entries)

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ConfigdProcess]:
    with ConfigdProcess(tmp_path / "data", "--client-timeout", "5") as process:
        yield process


def setup_namespace(operator: Operator) -> None:
    operator.config.CreateNamespace(
        config_pb2.CreateNamespaceRequest(
            name=NS,
            schema_json=json.dumps({"type": "object", "properties": {"pool": {"type": "integer"}}}),
            document_json='{"pool": 10}',
        )
    )


@pytest.fixture
def operator(server: ConfigdProcess) -> Iterator[Operator]:
    op = Operator(server.grpc_addr)
    setup_namespace(op)
    yield op
    op.close()


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


STATE = release_pb2.ReleaseState
OUTCOME = release_pb2.AckOutcome


def test_a_release_reaches_its_slice_only_and_promotion_reaches_everyone(
    server: ConfigdProcess, operator: Operator, services: list[Service]
) -> None:
    eu = Service(server.grpc_addr, "svc-eu", "zone=eu")
    us = Service(server.grpc_addr, "svc-us", "zone=us")
    services += [eu, us]
    eu.wait(lambda d: d == {"pool": 10})
    us.wait(lambda d: d == {"pool": 10})

    release_id = operator.start({"pool": 50}, "zone=eu")
    eu.wait(lambda d: d == {"pool": 50})
    status = operator.wait_status(lambda s: s.tally.applied == 1)
    assert (status.tally.targeted, status.tally.rejected, status.tally.pending) == (1, 0, 0)
    assert [c.client_id for c in status.clients] == ["svc-eu"]
    assert status.release.state == STATE.RELEASE_STATE_RUNNING
    assert json.loads(status.release.document_json) == {"pool": 50}
    assert us.doc == {"pool": 10}
    # Readers that are not in the slice read the namespace's document, which has not changed.
    got = operator.config.GetNamespace(config_pb2.GetNamespaceRequest(name=NS))
    assert json.loads(got.document_json) == {"pool": 10}
    # A direct write is refused, naming the release; nothing changes.
    with pytest.raises(grpc.RpcError) as refused:
        operator.config.Put(config_pb2.PutRequest(namespace=NS, key="pool", value_json="7"))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert f"release {release_id}" in (refused.value.details() or "")

    promoted = operator.promote()
    us.wait(lambda d: d == {"pool": 50})
    assert eu.doc == {"pool": 50}
    kinds = [(e.revision, config_pb2.WriteKind.Name(e.kind)) for e in operator.history()[:2]]
    assert kinds == [
        (promoted, "WRITE_KIND_RELEASE_PROMOTE"),
        (release_id, "WRITE_KIND_RELEASE_START"),
    ]
    final = operator.status(release_id)
    assert final.release.state == STATE.RELEASE_STATE_PROMOTED
    assert final.release.end_revision == promoted
    assert final.tally.applied == 1
    # The metrics an operator alerts on.
    time.sleep(0.3)
    metrics = urllib.request.urlopen(f"{server.http_url}/metrics", timeout=5).read().decode()
    assert 'configd_releases{state="promoted"} 1.0' in metrics
    assert 'configd_releases{state="running"} 0.0' in metrics
    assert f'configd_clients{{namespace="{NS}"}} 2.0' in metrics
    assert f'configd_clients_behind{{namespace="{NS}"}} 0.0' in metrics
    count = next(
        line
        for line in metrics.splitlines()
        if line.startswith("configd_ack_latency_seconds_count")
    )
    assert float(count.split()[-1]) >= 3  # the start (eu), the promotion (both)


def test_a_vetoing_client_keeps_its_snapshot_and_the_release_aborts_itself(
    server: ConfigdProcess, operator: Operator, services: list[Service]
) -> None:
    picky = Service(server.grpc_addr, "svc-picky", "zone=eu", refuse_above="pool=20")
    easy = Service(server.grpc_addr, "svc-easy", "zone=eu")
    services += [picky, easy]
    picky.wait(lambda d: d == {"pool": 10})
    easy.wait(lambda d: d == {"pool": 10})

    release_id = operator.start({"pool": 50}, "zone=eu", max_failures=0)
    easy.wait(lambda d: d == {"pool": 50})
    status = operator.wait_status(lambda s: s.release.state == STATE.RELEASE_STATE_ABORTED)
    assert status.release.ended_by == "configd"
    assert "max_failures 0" in status.release.end_message
    outcomes = {c.client_id: (c.outcome, c.reason) for c in status.clients}
    assert outcomes["svc-picky"][0] == OUTCOME.ACK_OUTCOME_REJECTED
    assert "pool 50 is above 20" in outcomes["svc-picky"][1]
    # The slice returns to the current document; the veto was never visible.
    easy.wait(lambda d: d == {"pool": 10})
    time.sleep(0.5)
    assert all(doc == {"pool": 10} for _, doc in picky.seen), picky.seen
    kinds = [config_pb2.WriteKind.Name(e.kind) for e in operator.history()[:2]]
    assert kinds == ["WRITE_KIND_RELEASE_ABORT", "WRITE_KIND_RELEASE_START"]
    assert operator.history()[0].author == "configd"
    assert release_id == operator.history()[1].revision


def test_percent_picks_a_stable_slice_and_bake_promotes_by_itself(
    server: ConfigdProcess, operator: Operator, services: list[Service]
) -> None:
    ids = [f"svc-{i}" for i in range(8)]
    chosen = {i for i in ids if in_percent(NS, i, 50)}
    assert 0 < len(chosen) < len(ids)  # the ids give a real subset
    first = [Service(server.grpc_addr, i, "zone=eu") for i in ids]
    services += first
    for service in first:
        service.wait(lambda d: d == {"pool": 10})
    operator.start({"pool": 50}, "zone=eu", percent=50)
    status = operator.wait_status(lambda s: s.tally.applied == len(chosen))
    assert {c.client_id for c in status.clients} == chosen
    for service in first:
        expected = {"pool": 50} if service.client_id in chosen else {"pool": 10}
        service.wait(lambda d, e=expected: d == e)
    # Restarted (new processes, the same ids): the same clients are in the slice.
    for service in first:
        service.stop()
    again = [Service(server.grpc_addr, i, "zone=eu") for i in ids]
    services += again
    for service in again:
        expected = {"pool": 50} if service.client_id in chosen else {"pool": 10}
        service.wait(lambda d, e=expected: d == e)
    operator.abort()

    operator.start({"pool": 60}, "zone=eu", percent=50, bake_seconds=1.0)
    status = operator.wait_status(
        lambda s: s.release.state == STATE.RELEASE_STATE_PROMOTED, timeout=20
    )
    assert status.release.ended_by == "configd"
    assert status.tally.applied == len(chosen)
    for service in again:
        service.wait(lambda d: d == {"pool": 60})


def test_clients_that_reconnect_or_start_mid_release_get_the_staged_document(
    server: ConfigdProcess, operator: Operator, services: list[Service]
) -> None:
    early = Service(server.grpc_addr, "svc-early", "zone=eu")
    services.append(early)
    early.wait(lambda d: d == {"pool": 10})
    release_id = operator.start({"pool": 50}, "zone=eu")
    early.wait(lambda d: d == {"pool": 50})
    # The server restarts mid-release: the release survives, the client reconnects and
    # resumes, and a client that starts now gets the staged document in its first snapshot.
    server.restart()
    late = Service(server.grpc_addr, "svc-late", "zone=eu")
    outside = Service(server.grpc_addr, "svc-outside", "zone=us")
    services += [late, outside]
    late.wait(lambda d: d == {"pool": 50})
    assert late.seen[0][1] == {"pool": 50}
    outside.wait(lambda d: d == {"pool": 10})
    reconnected = Operator(server.grpc_addr)
    try:
        status = reconnected.wait_status(lambda s: s.tally.applied == 2)
        assert status.release.id == release_id
        assert status.release.state == STATE.RELEASE_STATE_RUNNING
        assert {c.client_id for c in status.clients} == {"svc-early", "svc-late"}
        reconnected.promote()
        outside.wait(lambda d: d == {"pool": 50})
    finally:
        reconnected.close()
    assert early.doc == {"pool": 50}


def test_releases_and_acks_work_across_workers(tmp_path: Path, services: list[Service]) -> None:
    with ConfigdProcess(tmp_path / "data", "--client-timeout", "5", workers=2) as server:
        operator = Operator(server.grpc_addr)
        try:
            setup_namespace(operator)
            slice_ = [Service(server.grpc_addr, f"eu-{i}", "zone=eu") for i in range(4)]
            outside = [Service(server.grpc_addr, f"us-{i}", "zone=us") for i in range(2)]
            services += slice_ + outside
            for service in slice_ + outside:
                service.wait(lambda d: d == {"pool": 10})

            def slice_workers() -> set[str]:
                listed = operator.releases.ListClients(release_pb2.ListClientsRequest())
                return {c.replica for c in listed.clients if c.labels.get("zone") == "eu"}

            # The kernel spreads connections over the workers; add slice clients until both
            # workers hold some (each one lands on either with even odds).
            while len(slice_workers()) < 2:
                assert len(slice_) < 16, "every slice client landed on one worker"
                extra = Service(server.grpc_addr, f"eu-{len(slice_)}", "zone=eu")
                slice_.append(extra)
                services.append(extra)
                extra.wait(lambda d: d == {"pool": 10})
            operator.start({"pool": 50}, "zone=eu", bake_seconds=0.5)
            status = operator.wait_status(
                lambda s: s.release.state == STATE.RELEASE_STATE_PROMOTED, timeout=20
            )
            assert status.tally.targeted == len(slice_)
            assert status.tally.applied == len(slice_)
            assert len({c.replica for c in status.clients}) == 2
            for service in slice_ + outside:
                service.wait(lambda d: d == {"pool": 50})
            listed = operator.releases.ListClients(release_pb2.ListClientsRequest(namespace=NS))
            assert {c.client_id for c in listed.clients} == {
                *(s.client_id for s in slice_),
                *(s.client_id for s in outside),
            }
        finally:
            operator.close()


def stored_clients(data_dir: Path) -> set[str]:
    """The client ids recorded in the store, read from the SQLite file itself."""
    db = sqlite3.connect(f"file:{data_dir / 'configd.db'}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT client_id FROM clients")}
    finally:
        db.close()


def test_clients_long_gone_are_forgotten_once_no_running_release_counts_them(
    tmp_path: Path, services: list[Service]
) -> None:
    data = tmp_path / "data"
    options = ("--client-timeout", "1", "--forget-clients-after", "1")
    with ConfigdProcess(data, *options) as server:
        operator = Operator(server.grpc_addr)
        try:
            setup_namespace(operator)
            eu, us, stays = (
                Service(server.grpc_addr, "eu-0", "zone=eu"),
                Service(server.grpc_addr, "us-0", "zone=us"),
                Service(server.grpc_addr, "us-1", "zone=us"),
            )
            services += [eu, us, stays]
            for service in services:
                service.wait(lambda d: d == {"pool": 10})
            operator.start({"pool": 50}, "zone=eu")
            eu.wait(lambda d: d == {"pool": 50})
            operator.wait_status(lambda s: s.tally.applied == 1)
            eu.stop()
            us.stop()
            # Long past --forget-clients-after: the running release still counts eu-0 (it
            # applied), so nobody is forgotten while it runs.
            time.sleep(3)
            assert stored_clients(data) == {"eu-0", "us-0", "us-1"}
            [counted] = operator.status().clients
            assert (counted.client_id, counted.outcome) == ("eu-0", OUTCOME.ACK_OUTCOME_APPLIED)

            operator.abort()
            deadline = time.monotonic() + 10
            while stored_clients(data) != {"us-1"}:
                assert time.monotonic() < deadline, stored_clients(data)
                time.sleep(0.1)
            # A connected client is never forgotten, however long ago it connected.
            listed = operator.releases.ListClients(release_pb2.ListClientsRequest())
            assert [c.client_id for c in listed.clients] == ["us-1"]
        finally:
            operator.close()


def test_releases_across_two_replicas_on_postgresql(
    tmp_path: Path, pg_dsn: str, services: list[Service]
) -> None:
    options = ("--store", pg_dsn, "--client-timeout", "5")
    with (
        ConfigdProcess(tmp_path / "a", *options) as first,
        ConfigdProcess(tmp_path / "b", *options) as second,
    ):
        on_first, on_second = Operator(first.grpc_addr), Operator(second.grpc_addr)
        try:
            setup_namespace(on_first)
            eu_a = Service(first.grpc_addr, "eu-a", "zone=eu")
            eu_b = Service(second.grpc_addr, "eu-b", "zone=eu")
            picky = Service(second.grpc_addr, "eu-picky", "zone=eu", refuse_above="pool=60")
            us_b = Service(second.grpc_addr, "us-b", "zone=us")
            services += [eu_a, eu_b, picky, us_b]
            for service in services:
                service.wait(lambda d: d == {"pool": 10})

            # Started on one replica, acknowledged on both, promoted by itself (by whichever
            # replica maintains the store), seen the same from either replica.
            started = on_second.start({"pool": 50}, "zone=eu", bake_seconds=0.5)
            status = on_first.wait_status(
                lambda s: s.release.state == STATE.RELEASE_STATE_PROMOTED, timeout=20
            )
            assert status.release.id == started
            assert status.tally.applied == 3
            assert len({c.replica for c in status.clients}) == 2
            for service in services:
                service.wait(lambda d: d == {"pool": 50})
            assert on_second.status(started).tally.applied == 3

            # A client on the other replica vetoes the next one: it aborts by itself.
            on_first.start({"pool": 70}, "zone=eu", max_failures=0)
            status = on_second.wait_status(
                lambda s: s.release.state == STATE.RELEASE_STATE_ABORTED, timeout=20
            )
            outcomes = {c.client_id: c.outcome for c in status.clients}
            assert outcomes["eu-picky"] == OUTCOME.ACK_OUTCOME_REJECTED
            for service in (eu_a, eu_b, us_b):
                service.wait(lambda d: d == {"pool": 50})
            assert all(doc["pool"] <= 60 for _, doc in picky.seen), picky.seen
        finally:
            on_first.close()
            on_second.close()
