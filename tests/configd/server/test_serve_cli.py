"""`configd serve` as an operator runs it: addresses, graceful stop, clear start-up errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc


async def drain(call: Any) -> None:
    while await call.read() is not grpc.aio.EOF:
        pass


def run_serve(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return run_configd("serve", *args, timeout=timeout)


def run_configd(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "configd", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def test_sigterm_ends_watches_with_unavailable_and_exits_zero(
    configd_server: ConfigdProcess,
) -> None:
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name="app"))
        call = stub.Watch(pb.WatchRequest(namespaces=["app"], send_snapshot=True))
        first = await call.read()
        assert first.HasField("snapshot")
        code = await asyncio.to_thread(configd_server.stop)
        assert code == 0
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await drain(call)
        assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "stopped" in configd_server.logs()


async def test_a_second_server_on_the_same_data_dir_is_a_replica(
    configd_server: ConfigdProcess, tmp_path: Path
) -> None:
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name="app"))
        await stub.Put(pb.PutRequest(namespace="app", key="k", value_json="1"))
        second = ConfigdProcess(configd_server.data_dir)
        second.log_path = tmp_path / "second.log"
        await asyncio.to_thread(second.start)
        try:
            async with grpc.aio.insecure_channel(second.grpc_addr) as other:
                replica = pb_grpc.ConfigServiceStub(other)
                got = await replica.Get(pb.GetRequest(namespace="app", key="k"))
                assert (got.value_json, got.revision) == ("1", 2)
                # Revisions come from the store: the next write on either continues them.
                assert (
                    await replica.Put(pb.PutRequest(namespace="app", key="k", value_json="2"))
                ).revision == 3
                written = await stub.Put(pb.PutRequest(namespace="app", key="k", value_json="3"))
                assert written.revision == 4
        finally:
            assert await asyncio.to_thread(second.stop) == 0
        # The first server is untouched: it still reads and writes its data.
        got = await stub.Get(pb.GetRequest(namespace="app", key="k"))
        assert got.value_json == "3"


@pytest.mark.parametrize("flag", ["--listen", "--http-listen"])
def test_port_in_use_is_one_clear_line_and_leaves_the_data_dir_alone(
    configd_server: ConfigdProcess, tmp_path: Path, flag: str
) -> None:
    """Issue 18 point 18: bind before touching the data directory; one line naming the flag."""
    taken = configd_server.grpc_addr if flag == "--listen" else configd_server.http_addr
    other = "--http-listen" if flag == "--listen" else "--listen"
    data = tmp_path / "new-data"
    result = run_serve("--data-dir", str(data), flag, taken, other, "127.0.0.1:0")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"configd: cannot start: cannot listen on {taken} ({flag}): the address is in use; "
        f"stop the other server or choose another address with {flag}"
    ]
    assert not data.exists()


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_serve(
        "--data-dir",
        str(blocker / "data"),
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    )
    assert result.returncode == 1
    assert "cannot create data directory" in result.stderr


def test_corrupt_database_is_refused_without_touching_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    garbage = b"this is not a database" * 100
    (data / "configd.db").write_bytes(garbage)
    result = run_serve(
        "--data-dir", str(data), "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"
    )
    assert result.returncode == 1
    assert "cannot open database" in result.stderr
    assert (data / "configd.db").read_bytes() == garbage


def test_serve_accepts_dash_h_as_help() -> None:
    """Issue 18 point 11: `configd serve -h` is --help, like configctl's."""
    for args in (["serve", "-h"], ["-h"]):
        result = run_configd(*args)
        assert result.returncode == 0, result.stderr
        assert "Usage: " in result.stdout
