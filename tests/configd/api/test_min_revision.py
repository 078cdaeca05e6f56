"""Read your writes across replicas: `min_revision` on reads and a Watch that starts ahead.

One real configd with a short bound (--min-revision-wait) and fast progress messages. A read
or watch that asks for a revision the server has not applied waits for it, answers once a
write lands, and otherwise fails UNAVAILABLE after about the bound, naming both revisions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client import errors
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.api.calls import failure
from tests.waits import MIN_REVISION_WAIT

BOUND = MIN_REVISION_WAIT


@pytest.fixture
def server(short_wait_server: ConfigdProcess) -> ConfigdProcess:
    return short_wait_server


@pytest.fixture
async def stub(server: ConfigdProcess) -> AsyncIterator[pb_grpc.ConfigServiceStub]:
    async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
        yield pb_grpc.ConfigServiceStub(channel)


async def current(stub: pb_grpc.ConfigServiceStub) -> int:
    return int((await stub.ListNamespaces(pb.ListNamespacesRequest())).revision)


async def put(stub: pb_grpc.ConfigServiceStub, ns: str, key: str, value: str) -> int:
    reply = await stub.Put(pb.PutRequest(namespace=ns, key=key, value_json=value))
    return int(reply.revision)


async def still_waiting(task: asyncio.Task[Any]) -> bool:
    """True if `task` has not finished within a fraction of the bound (it is waiting)."""
    done, _ = await asyncio.wait({task}, timeout=BOUND / 10)
    return not done


async def test_a_read_ahead_of_the_server_waits_for_the_write_then_answers(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    at = await put(stub, ns, "k", "1")
    # Applied already (the revision the put answered, and 0): answered at once.
    got = await stub.Get(pb.GetRequest(namespace=ns, key="k", min_revision=at))
    assert got.value_json == "1"
    ahead = await current(stub) + 1
    get = asyncio.ensure_future(stub.Get(pb.GetRequest(namespace=ns, key="k", min_revision=ahead)))
    view = asyncio.ensure_future(
        stub.GetNamespace(pb.GetNamespaceRequest(name=ns, min_revision=ahead))
    )
    listing = asyncio.ensure_future(
        stub.ListNamespaces(pb.ListNamespacesRequest(prefix=ns, min_revision=ahead))
    )
    assert await still_waiting(get)
    assert await put(stub, ns, "k", "2") == ahead
    got = await get
    assert (got.value_json, got.revision) == ("2", ahead)
    assert (await view).revision == ahead
    assert (await view).document_json == '{"k":2}'
    assert (await listing).revision == ahead


async def test_a_revision_that_never_arrives_fails_unavailable_after_the_bound(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    at = await current(stub)
    far = at + 1_000_000  # above anything this store has: another replica might have it
    started = time.monotonic()
    error = await failure(stub.GetNamespace(pb.GetNamespaceRequest(name=ns, min_revision=far)))
    waited = time.monotonic() - started
    assert isinstance(error, errors.RevisionNotApplied)  # an Unavailable: code UNAVAILABLE
    assert (error.code, error.applied, error.wanted, error.field) == (
        "UNAVAILABLE",
        at,
        far,
        "min_revision",
    )
    assert error.detail == (
        f"this server has applied revision {at}, not yet revision {far} (min_revision); it "
        f"did not arrive within {BOUND:g} s: retry (another replica may have it), or send a "
        "lower revision if you did not see it written"
    )
    assert BOUND * 0.9 <= waited < BOUND + 3.0


@pytest.mark.parametrize("method", ["Get", "GetNamespace", "ListNamespaces"])
async def test_a_negative_min_revision_is_invalid(
    stub: pb_grpc.ConfigServiceStub, ns: str, method: str
) -> None:
    requests: dict[str, Any] = {
        "Get": pb.GetRequest(namespace=ns, key="k", min_revision=-1),
        "GetNamespace": pb.GetNamespaceRequest(name=ns, min_revision=-1),
        "ListNamespaces": pb.ListNamespacesRequest(min_revision=-1),
    }
    error = await failure(getattr(stub, method)(requests[method]))
    assert isinstance(error, errors.InvalidArgument)
    assert [v.path for v in error.violations] == ["min_revision"]
    assert error.detail == (
        "min_revision -1 is negative; send 0 (no wait) or the highest revision you have seen"
    )


async def test_a_watch_starting_ahead_waits_until_caught_up(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    """Resumed at last_seen + 1 after a replica that is ahead: nothing (not even progress,
    which comes every 0.1 s here) until last_seen is applied; then live from there."""
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    other = f"{ns}-other"
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=other))
    at = await current(stub)
    stream = stub.Watch(pb.WatchRequest(namespaces=[ns], start_revision=at + 2))
    first = asyncio.ensure_future(stream.read())
    try:
        assert await still_waiting(first)
        assert await put(stub, other, "k", "1") == at + 1  # last_seen is applied now
        message = await first
        # Caught up through at + 1 and nothing of ns in it: progress, never below at + 1.
        assert message.WhichOneof("event") == "progress", message
        assert message.progress.revision == at + 1
        assert await put(stub, ns, "k", "1") == at + 2
        while (message := await stream.read()).WhichOneof("event") == "progress":
            assert message.progress.revision == at + 1
        assert message.change_set.revision == at + 2
    finally:
        stream.cancel()


async def test_a_watch_far_ahead_fails_unavailable_after_the_bound(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    at = await current(stub)
    stream = stub.Watch(pb.WatchRequest(namespaces=[ns], start_revision=at + 100))
    try:
        error = await failure(stream.read())
    finally:
        stream.cancel()
    assert isinstance(error, errors.RevisionNotApplied)
    assert (error.applied, error.wanted, error.field) == (at, at + 99, "start_revision")
    assert error.detail.startswith(
        f"this server has applied revision {at}, not yet revision {at + 99} (start_revision)"
    )


async def test_a_snapshot_watch_with_min_revision_waits_and_is_never_older(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    """An SDK starting from a cache at revision R asks a snapshot with min_revision R: a
    replica that has not applied R yet answers once it has, with a state at R or later."""
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    ahead = await current(stub) + 1
    stream = stub.Watch(pb.WatchRequest(namespaces=[ns], send_snapshot=True, min_revision=ahead))
    first = asyncio.ensure_future(stream.read())
    try:
        assert await still_waiting(first)
        assert await put(stub, ns, "k", "7") == ahead
        message = await first
        assert message.WhichOneof("event") == "snapshot", message
        assert message.snapshot.revision == ahead
        assert [d.document_json for d in message.snapshot.namespaces] == ['{"k":7}']
    finally:
        stream.cancel()
    # At or below what the server has: no wait at all.
    stream = stub.Watch(pb.WatchRequest(namespaces=[ns], send_snapshot=True, min_revision=ahead))
    try:
        message = await asyncio.wait_for(stream.read(), BOUND / 2)
        assert message.snapshot.revision == ahead
    finally:
        stream.cancel()


async def test_a_snapshot_watch_far_ahead_fails_unavailable_naming_min_revision(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    at = await current(stub)
    stream = stub.Watch(pb.WatchRequest(namespaces=[ns], send_snapshot=True, min_revision=at + 50))
    try:
        error = await failure(stream.read())
    finally:
        stream.cancel()
    assert isinstance(error, errors.RevisionNotApplied)
    assert (error.applied, error.wanted, error.field) == (at, at + 50, "min_revision")


async def test_a_watch_with_a_negative_min_revision_is_invalid(
    stub: pb_grpc.ConfigServiceStub, ns: str
) -> None:
    stream = stub.Watch(pb.WatchRequest(namespaces=[ns], send_snapshot=True, min_revision=-3))
    try:
        error = await failure(stream.read())
    finally:
        stream.cancel()
    assert isinstance(error, errors.InvalidArgument)
    assert [v.path for v in error.violations] == ["min_revision"]
    assert error.detail == (
        "min_revision -3 is negative; send 0 (no wait) or the highest revision you have seen"
    )
