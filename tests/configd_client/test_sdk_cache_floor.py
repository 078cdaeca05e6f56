"""A client starting from its cache never goes back to an older state than the cache.

With replicas, the worker a new connection lands on may lag: the client asks its first
snapshot with min_revision = the cache's revision, so that worker waits (bounded) until it has
caught up. A server that never had that revision (restored from an older backup, or another
store) is believed after two refusals in a row, with a warning. The server here is real, with
a short bound (--min-revision-wait 3 s); the cache files are written as the SDK writes them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
import pytest

from configd.testing import ConfigdProcess
from configd_client import AsyncConfigClient, ClientState, Snapshot, _cache
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.server.worker_probes import until_async
from tests.waits import MIN_REVISION_WAIT

FAST = {"backoff_initial": 0.05, "backoff_max": 0.2}


def stub(server: ConfigdProcess) -> pb_grpc.ConfigServiceStub:
    return pb_grpc.ConfigServiceStub(grpc.insecure_channel(server.grpc_addr))


def write_cache(path: Path, ns: str, revision: int, values: dict[str, str]) -> None:
    _cache.save(
        path,
        _cache.CacheContent(
            revision=revision,
            selection=_cache.Selection((ns,), ()),
            namespaces=(
                _cache.CachedNamespace(
                    name=ns,
                    create_revision=1,
                    mod_revision=revision,
                    schema_version=0,
                    schema_json="",
                    texts=values,
                ),
            ),
        ),
    )


async def connected(client: AsyncConfigClient, deadline: float) -> None:
    await until_async(lambda: client.status.state is ClientState.CONNECTED, "connected", deadline)


async def test_a_lagging_server_is_waited_for_never_an_older_snapshot(
    short_wait_server: ConfigdProcess, ns: str, tmp_path: Path
) -> None:
    config = stub(short_wait_server)
    config.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    head = config.Put(pb.PutRequest(namespace=ns, key="k", value_json="1")).revision
    # The cache holds revision head + 1, which this server has not applied yet (as a worker
    # that lags the one the cache came from).
    cache = tmp_path / "cache.json"
    write_cache(cache, ns, head + 1, {"k": "2"})
    served: list[int] = []
    client = AsyncConfigClient(ns, addr=short_wait_server.grpc_addr, cache_path=cache, **FAST)

    def record(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
        served.append(new.revision)

    client.on_change(record)
    async with client:
        assert client.revision == head + 1  # the cache, while the server waits
        await asyncio.sleep(MIN_REVISION_WAIT / 3)
        assert client.status.state is ClientState.FROM_CACHE  # not the server's older state
        put = config.Put(pb.PutRequest(namespace=ns, key="k", value_json="2"))
        assert put.revision == head + 1
        await connected(client, 2 * MIN_REVISION_WAIT + 10)
        assert client.revision == head + 1
        assert client.snapshot().to_dict() == {"k": 2}
        assert all(revision >= head + 1 for revision in served), served


async def test_a_server_below_the_cache_is_believed_after_two_refusals(
    short_wait_server: ConfigdProcess,
    ns: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = stub(short_wait_server)
    config.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    head = config.Put(pb.PutRequest(namespace=ns, key="k", value_json="1")).revision
    cache = tmp_path / "cache.json"
    far = head + 1_000_000  # this store never reaches it in this test: a restored store
    write_cache(cache, ns, far, {"k": "9"})
    client = AsyncConfigClient(ns, addr=short_wait_server.grpc_addr, cache_path=cache, **FAST)
    caplog.set_level(logging.WARNING, logger="configd_client")
    async with client:
        assert client.snapshot().to_dict() == {"k": 9}
        # Two refusals, each after the server's bound, then the server's state.
        await connected(client, 3 * MIN_REVISION_WAIT + 10)
        assert client.snapshot().to_dict() == {"k": 1}
        assert client.revision >= head
    [warning] = [r for r in caplog.records if "below revision" in r.getMessage()]
    assert warning.getMessage() == (
        f"configd: the server is at revision {head}, below revision {far} that this client "
        "already had (restored from an older backup, or another server?); taking its state "
        "as it is"
    )


async def test_min_revision_waits_for_a_write_the_caller_made_elsewhere(
    short_wait_server: ConfigdProcess, ns: str
) -> None:
    """A service that has just created its namespace through one replica starts its client
    with min_revision = that revision: a replica that lags waits instead of answering that
    the namespace does not exist."""
    config = stub(short_wait_server)
    config.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
    head = config.Put(pb.PutRequest(namespace=ns, key="k", value_json="1")).revision
    client = AsyncConfigClient(ns, addr=short_wait_server.grpc_addr, min_revision=head + 1, **FAST)
    start = asyncio.ensure_future(client.start())
    try:
        await asyncio.sleep(MIN_REVISION_WAIT / 3)
        assert not start.done()  # the server waits for head + 1
        config.Put(pb.PutRequest(namespace=ns, key="k", value_json="2"))
        await asyncio.wait_for(start, MIN_REVISION_WAIT + 10)
        assert (client.revision, client.snapshot().to_dict()) == (head + 1, {"k": 2})
    finally:
        await client.aclose()


def test_a_negative_min_revision_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="min_revision") as refused:
        AsyncConfigClient("app/prod", addr="127.0.0.1:1", min_revision=-1)
    assert str(refused.value) == (
        "configd: min_revision=-1 is negative; pass 0 (no floor) or a revision you have seen"
    )
