"""/readyz by lag (issue 16): a server that lags the store it shares is not ready, says why,
and is ready again once it has caught up.

The server under test runs in this process (so the test can hold its follower the way a
commit in flight does: LiveState.begin_commit, the writer's own hold); the store's head moves
on through a second, real `configd serve` process on the same data directory.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import grpc.aio

from configd.server.app import ConfigdServer, ServerConfig
from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

DEADLINE = 30.0


async def readyz(session: aiohttp.ClientSession, server: ConfigdServer) -> tuple[int, Any]:
    async with session.get(f"http://{server.http_address}/readyz") as reply:
        return reply.status, await reply.json()


async def test_readyz_fails_while_lagging_the_store_and_recovers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = ServerConfig(
        data_dir=data,
        listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        auth=False,
        max_lag_seconds=0.3,
    )
    async with ConfigdServer(config) as server, aiohttp.ClientSession() as session:
        other = ConfigdProcess(data)
        other.start()
        try:
            async with grpc.aio.insecure_channel(other.grpc_addr) as channel:
                stub = pb_grpc.ConfigServiceStub(channel)
                await stub.CreateNamespace(pb.CreateNamespaceRequest(name="app"))
                status, body = await readyz(session, server)
                assert status == 200
                assert body["status"] == "ready"
                assert {"applied_revision", "store_revision", "lag_seconds"} <= body.keys()
                applied = server.service.revision
                server.service._state.begin_commit()  # the follower now waits, as for a commit
                try:
                    reply = await stub.Put(pb.PutRequest(namespace="app", key="k", value_json="1"))
                    deadline = time.monotonic() + DEADLINE
                    while (await readyz(session, server))[0] == 200:
                        assert time.monotonic() < deadline, "a lagging server stayed ready"
                        await asyncio.sleep(0.05)
                    status, body = await readyz(session, server)
                finally:
                    server.service._state.end_commit()
                assert status == 503
                assert body["status"] == "not ready"
                assert body["reason"].startswith(
                    f"lagging: applied {applied}, store at {reply.revision} for "
                )
                assert "(more than --max-lag-seconds 0.3)" in body["reason"]
                assert body["applied_revision"] == applied
                assert body["store_revision"] == reply.revision
                assert body["lag_seconds"] > 0.3
                # Caught up: ready again, with nothing left to apply.
                deadline = time.monotonic() + DEADLINE
                while (await readyz(session, server))[0] != 200:
                    assert time.monotonic() < deadline, "a caught-up server stayed not ready"
                    await asyncio.sleep(0.05)
                status, body = await readyz(session, server)
                assert body["applied_revision"] == body["store_revision"] == reply.revision
                assert body["lag_seconds"] == 0.0
        finally:
            other.stop()
