"""Graceful operations: JSON logs, SIGHUP log-level reload, SIGTERM with writes in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import grpc
import grpc.aio

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc


def json_lines(text: str) -> list[dict[str, object]]:
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def wait_for_log(server: ConfigdProcess, needle: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while needle not in server.logs():
        assert time.monotonic() < deadline, f"{needle!r} not logged:\n{server.logs()[-2000:]}"
        time.sleep(0.05)


async def test_json_logs_and_sighup_reloads_the_log_level(tmp_path: Path) -> None:
    level_file = tmp_path / "log-level"
    level_file.write_text("warning\n")
    server = ConfigdProcess(
        tmp_path / "data", "--log-format", "json", "--log-level-file", str(level_file)
    )
    server.start()
    try:
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            await stub.CreateNamespace(pb.CreateNamespaceRequest(name="ops"))  # not logged
            level_file.write_text("info\n")
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGHUP)
            await asyncio.to_thread(wait_for_log, server, "log level is now info")
            await stub.Put(pb.PutRequest(namespace="ops", key="k", value_json="1"))
            await asyncio.to_thread(wait_for_log, server, "write revision=2")
    finally:
        assert server.stop() == 0
    records = json_lines(server.logs())
    writes = [r for r in records if r.get("logger") == "configd.write"]
    assert len(writes) == 1  # the create at level warning was not logged
    assert {k: writes[0][k] for k in ("level", "revision", "namespace", "kind", "keys")} == {
        "level": "info",
        "revision": 2,
        "namespace": "ops",
        "kind": "put",
        "keys": ["k"],
    }
    assert writes[0]["author"]
    assert str(writes[0]["time"]).endswith("+00:00")


async def test_sigterm_lets_in_flight_writes_finish(configd_server: ConfigdProcess) -> None:
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name="drain"))

        async def put(i: int) -> int:
            reply = await stub.Put(
                pb.PutRequest(namespace="drain", key=f"k{i}", value_json=str(i)), timeout=30
            )
            return int(reply.revision)

        calls = [asyncio.create_task(put(i)) for i in range(300)]
        # SIGTERM as soon as the first write is acknowledged: the others are in flight.
        await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        assert configd_server.process is not None
        os.kill(configd_server.process.pid, signal.SIGTERM)
        results = await asyncio.gather(*calls, return_exceptions=True)
        # Wait for the exit (a second SIGTERM, as stop() would send, is not the point here).
        await asyncio.to_thread(configd_server.process.wait, 30)
        code = configd_server.stop()
    assert code == 0
    acked = {i: r for i, r in enumerate(results) if isinstance(r, int)}
    refused = [r for r in results if not isinstance(r, int)]
    assert acked
    for error in refused:  # calls the stopping server refused (not acknowledged)
        assert isinstance(error, grpc.aio.AioRpcError)
        assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), error
    configd_server.start()
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        view = await pb_grpc.ConfigServiceStub(channel).GetNamespace(
            pb.GetNamespaceRequest(name="drain")
        )
    document = json.loads(view.document_json)
    metas = {meta.key: meta.mod_revision for meta in view.keys}
    # Refused calls never reached a handler: grpc cancels calls it had not started.
    assert not any(f"k{i}" in document for i, r in enumerate(results) if not isinstance(r, int))
    for i, revision in acked.items():
        assert document[f"k{i}"] == i
        assert metas[f"k{i}"] == revision
