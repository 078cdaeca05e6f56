"""Tokens through `configd serve --workers 3` with auth on (issue 16): a token created on one
worker authenticates on every other at once; a revocation refuses calls and cuts open watches
on every worker within the documented bound; the first start's admin.token works everywhere.

A connection to the shared port lands on whichever worker the kernel picks (SO_REUSEPORT); to
reach one worker on purpose, a test connects to the Unix socket each worker also serves its
gRPC on (`<data_dir>/run/grpc-<pid>.sock`, the one its own gRPC-Web gateway uses: the same
server, handlers and token checks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

WORKERS = 3
DEADLINE = 30.0
BOUND = 2.0  # the documented bound for a token change to reach every worker
NS = "app/x"
UNAUTH = grpc.StatusCode.UNAUTHENTICATED


def md(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


def worker_sockets(server: ConfigdProcess) -> list[Path]:
    """Each worker's own gRPC socket, once all are serving."""
    deadline = time.monotonic() + DEADLINE
    while len(found := sorted((server.data_dir / "run").glob("grpc-*.sock"))) < WORKERS:
        assert time.monotonic() < deadline, f"{WORKERS} worker sockets, found {found}"
        time.sleep(0.02)
    return found


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """A fresh data directory: its workers start together, so they race to bootstrap."""
    server = ConfigdProcess(tmp_path_factory.mktemp("tokens") / "data", auth=True, workers=WORKERS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def channels(workers: ConfigdProcess) -> AsyncIterator[list[grpc.aio.Channel]]:
    """One channel to each worker, in a fixed order; the namespace NS exists."""
    opened = [grpc.aio.insecure_channel(f"unix:{path}") for path in worker_sockets(workers)]
    try:
        create = pb_grpc.ConfigServiceStub(opened[0]).CreateNamespace(
            pb.CreateNamespaceRequest(name=NS), metadata=md(workers.admin_token)
        )
        assert await code_of(create) in (grpc.StatusCode.OK, grpc.StatusCode.ALREADY_EXISTS)
        yield opened
    finally:
        for channel in opened:
            await channel.close()


async def code_of(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def get(channel: grpc.aio.Channel, secret: str) -> Any:
    stub = pb_grpc.ConfigServiceStub(channel)
    # min_revision: the worker answers once it has applied NS's creation (revision 1).
    return stub.GetNamespace(pb.GetNamespaceRequest(name=NS, min_revision=1), metadata=md(secret))


async def new_token(channel: grpc.aio.Channel, admin: str, name: str) -> str:
    reply = await admin_pb2_grpc.AdminServiceStub(channel).CreateToken(
        admin_pb2.CreateTokenRequest(
            name=name, grants=[admin_pb2.Grant(prefix="app/", role=admin_pb2.ROLE_READ)]
        ),
        metadata=md(admin),
    )
    return str(reply.secret)


async def test_the_first_start_admin_token_works_on_every_worker(
    workers: ConfigdProcess, channels: list[grpc.aio.Channel]
) -> None:
    admin = workers.admin_token
    for channel in channels:
        listed = await admin_pb2_grpc.AdminServiceStub(channel).ListTokens(
            admin_pb2.ListTokensRequest(), metadata=md(admin)
        )
        assert [t.name for t in listed.tokens if t.name == "admin"] == ["admin"]
    # Exactly one worker wrote the file; no staged secret is left beside it.
    assert [p.name for p in workers.data_dir.iterdir() if "admin" in p.name] == ["admin.token"]
    assert workers.logs().count("admin token written to") == 1


async def test_a_token_created_on_one_worker_works_on_every_other_at_once(
    workers: ConfigdProcess, channels: list[grpc.aio.Channel]
) -> None:
    admin = workers.admin_token
    for creator in range(WORKERS):
        secret = await new_token(channels[creator], admin, f"reader-{creator}")
        # At once: no wait for the other workers to hear of it.
        codes = await asyncio.gather(*(code_of(get(channel, secret)) for channel in channels))
        assert codes == [grpc.StatusCode.OK] * WORKERS
    # As a client sees it: created, then used on new connections to the shared port, which
    # land on any worker.
    async with grpc.aio.insecure_channel(workers.grpc_addr) as channel:
        secret = await new_token(channel, admin, "reader-tcp")
    for _ in range(12):
        options = [("grpc.use_local_subchannel_pool", 1)]  # a connection of its own
        async with grpc.aio.insecure_channel(workers.grpc_addr, options=options) as fresh:
            assert await code_of(get(fresh, secret)) is grpc.StatusCode.OK


async def test_a_revocation_on_one_worker_cuts_calls_and_watches_on_every_other(
    workers: ConfigdProcess, channels: list[grpc.aio.Channel]
) -> None:
    admin = workers.admin_token
    secret = await new_token(channels[0], admin, "to-revoke")
    watches: list[Any] = []
    for channel in channels[1:]:
        watch: Any = pb_grpc.ConfigServiceStub(channel).Watch(
            pb.WatchRequest(namespaces=[NS], send_snapshot=True), metadata=md(secret)
        )
        assert (await asyncio.wait_for(watch.read(), 10)).HasField("snapshot")
        watches.append(watch)

    async def cut(watch: Any) -> tuple[grpc.aio.AioRpcError, float]:
        try:
            while True:
                await asyncio.wait_for(watch.read(), DEADLINE)
        except grpc.aio.AioRpcError as exc:
            return exc, time.monotonic() - revoked

    async def refused(channel: grpc.aio.Channel) -> float:
        while await code_of(get(channel, secret)) is not UNAUTH:
            assert time.monotonic() - revoked < DEADLINE
            await asyncio.sleep(0.001)
        return time.monotonic() - revoked

    revoked = time.monotonic()  # set again just before the revocation
    cuts = [asyncio.create_task(cut(watch)) for watch in watches]
    await asyncio.sleep(0)  # the readers wait on their streams before the revocation
    revoked = time.monotonic()
    await admin_pb2_grpc.AdminServiceStub(channels[0]).RevokeToken(
        admin_pb2.RevokeTokenRequest(name="to-revoke"), metadata=md(admin)
    )
    refusals = await asyncio.gather(*(refused(channel) for channel in channels[1:]))
    ended = await asyncio.gather(*cuts)
    for error, _ in ended:
        assert error.code() is UNAUTH
        assert "revoked" in (error.details() or "")
    took = [*refusals, *(seconds for _, seconds in ended)]
    print(f"revocation reached the other workers: calls {refusals}, watches {took[2:]} s")
    assert max(took) < BOUND, f"revocation propagation {took} s, over {BOUND} s"
