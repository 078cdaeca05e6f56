"""Abuse limits: each answers RESOURCE_EXHAUSTED naming the limit (real server, small limits)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest

from configd.api.ratelimit import RateLimiter
from configd.testing import ConfigdProcess
from configd_client.cli.session import translate
from configd_client.errors import LimitExceeded
from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

NS = "lim/a"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    server = ConfigdProcess(
        tmp_path_factory.mktemp("limits") / "data",
        "--max-namespaces=3",
        "--max-writes-per-second=5",
        "--max-watchers-per-token=2",
        "--max-watchers=4",
        "--max-request-bytes=65536",
        auth=True,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def md(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


@pytest.fixture
async def channel(limited: ConfigdProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(limited.grpc_addr) as ch:
        yield ch


async def limit_of(call: Any) -> str:
    """The limit a call is refused by (fails the test if it succeeds)."""
    failed: grpc.aio.AioRpcError | None = None
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        failed = exc
    if failed is None:
        pytest.fail("the call was not refused")
    assert failed.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, failed
    error = translate(failed)
    assert isinstance(error, LimitExceeded)
    assert error.limit in str(error)
    return error.limit


_made: dict[str, str] = {}


async def token(channel: grpc.aio.Channel, admin: str, name: str) -> str:
    if name not in _made:
        reply = await admin_pb2_grpc.AdminServiceStub(channel).CreateToken(
            admin_pb2.CreateTokenRequest(
                name=name, grants=[admin_pb2.Grant(prefix="lim/", role=admin_pb2.ROLE_WRITE)]
            ),
            metadata=md(admin),
        )
        _made[name] = reply.secret
    return _made[name]


@pytest.fixture
async def ns(channel: grpc.aio.Channel, limited: ConfigdProcess) -> str:
    stub = pb_grpc.ConfigServiceStub(channel)
    listed = await stub.ListNamespaces(pb.ListNamespacesRequest(), metadata=md(limited.admin_token))
    if NS not in {n.name for n in listed.namespaces}:
        await stub.CreateNamespace(
            pb.CreateNamespaceRequest(name=NS), metadata=md(limited.admin_token)
        )
    return NS


async def test_writes_per_second_per_token(
    channel: grpc.aio.Channel, limited: ConfigdProcess, ns: str
) -> None:
    secret = await token(channel, limited.admin_token, "fast-writer")
    stub = pb_grpc.ConfigServiceStub(channel)

    def put(i: int) -> Any:
        return stub.Put(
            pb.PutRequest(namespace=ns, key="k", value_json=str(i)), metadata=md(secret)
        )

    for i in range(5):  # the burst
        await put(i)
    assert await limit_of(put(99)) == "max_writes_per_second"
    # Another token has its own bucket; reads are not limited.
    other = await token(channel, limited.admin_token, "other-writer")
    await stub.Put(pb.PutRequest(namespace=ns, key="o", value_json="1"), metadata=md(other))
    await stub.Get(pb.GetRequest(namespace=ns, key="k"), metadata=md(secret))
    await asyncio.sleep(0.5)  # the behaviour under test: the bucket refills at 5 per second
    await put(100)


async def test_watchers_per_token_and_in_total(
    channel: grpc.aio.Channel, limited: ConfigdProcess, ns: str
) -> None:
    stub = pb_grpc.ConfigServiceStub(channel)
    one = await token(channel, limited.admin_token, "watcher-one")
    two = await token(channel, limited.admin_token, "watcher-two")
    open_calls = []

    async def watch(secret: str) -> Any:
        call = stub.Watch(pb.WatchRequest(namespaces=[ns], send_snapshot=True), metadata=md(secret))
        open_calls.append(call)
        await asyncio.wait_for(call.read(), 10)
        return call

    try:
        await watch(one)
        await watch(one)
        assert await limit_of(watch(one)) == "max_watchers_per_token"
        await watch(two)
        await watch(two)
        assert await limit_of(watch(limited.admin_token)) == "max_watchers"
    finally:
        for call in open_calls:
            call.cancel()
    # Closed streams give their places back, once the server has seen the cancellations.
    deadline = time.monotonic() + 10
    call = None
    while call is None:
        try:
            call = await watch(one)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    call.cancel()


async def test_request_size_names_the_limit(
    channel: grpc.aio.Channel, limited: ConfigdProcess, ns: str
) -> None:
    stub = pb_grpc.ConfigServiceStub(channel)
    value = '"' + "x" * 70_000 + '"'
    put = stub.Put(
        pb.PutRequest(namespace=ns, key="big", value_json=value), metadata=md(limited.admin_token)
    )
    assert await limit_of(put) == "max_request_bytes"


async def test_value_size_names_the_limit(
    channel: grpc.aio.Channel, limited: ConfigdProcess, ns: str
) -> None:
    # The value limit (256 KiB) is above this server's request limit, so use a small server
    # limit instead: the message limit is another size limit on the same path.
    stub = pb_grpc.ConfigServiceStub(channel)
    put = stub.Put(
        pb.PutRequest(namespace=ns, key="m", value_json="1", message="x" * 5000),
        metadata=md(limited.admin_token),
    )
    assert await limit_of(put) == "max_message_bytes"


async def test_namespace_count(channel: grpc.aio.Channel, limited: ConfigdProcess, ns: str) -> None:
    stub = pb_grpc.ConfigServiceStub(channel)
    admin = md(limited.admin_token)
    # Not a wait for the server: earlier tests' admin writes spent this second's bucket.
    await asyncio.sleep(1.0)
    listed = await stub.ListNamespaces(pb.ListNamespacesRequest(), metadata=admin)
    for i in range(3 - len(listed.namespaces)):
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name=f"lim/n{i}"), metadata=admin)
    refused = stub.CreateNamespace(pb.CreateNamespaceRequest(name="lim/over"), metadata=admin)
    assert await limit_of(refused) == "max_namespaces"
    await stub.DeleteNamespace(pb.DeleteNamespaceRequest(name="lim/n0"), metadata=admin)
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name="lim/over"), metadata=admin)


def test_token_bucket_refills_at_the_rate() -> None:
    limiter = RateLimiter(rate=2, burst=2)
    assert limiter.allow("t", now=0.0)
    assert limiter.allow("t", now=0.0)
    assert not limiter.allow("t", now=0.1)
    assert limiter.allow("t", now=0.6)  # 0.5 s at 2/s = 1 event
    assert not limiter.allow("t", now=0.6)
    assert limiter.allow("u", now=0.6)  # per key
