"""PostgreSQL failover under a running `configd serve --store "primary,standby"` (issue 17):
a real primary and a streaming standby (pg_basebackup -R), the primary SIGKILLed, the standby
promoted.

- Synchronous replication: every write configd acknowledged is on the promoted store, each
  once (the SDK's retry with its request id lands an in-flight write once), the watcher saw
  every revision once and in order, and new writes commit and notify within a second.
- Asynchronous replication with a standby that lacks the last commits: configd finds the
  store below what it applied and stops writing (the message), is not ready, ends its watches
  so that the SDK resyncs; restarted, it serves the promoted store's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd.testing_postgres import PostgresCluster, PostgresMissing, cluster_root
from configd_client import AsyncConfigClient, ClientState
from configd_client._retry import retry_call
from configd_client.errors import StoreRegressed
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.api.calls import failure
from tests.configd.server.http_probes import readyz, regressed_metric
from tests.waits import until_async

NS = "failover/app"
DB = "configd_failover"
DEADLINE = 30.0
FAST = {"backoff_initial": 0.05, "backoff_max": 0.2}
SWITCH = 1.0
"""Seconds between the primary's death and the standby's promotion."""


@pytest.fixture
def clusters() -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    """A primary with the test's database and a streaming standby of it (asynchronous)."""
    primary = PostgresCluster(cluster_root())
    standby: PostgresCluster | None = None
    try:
        try:
            primary.start()
        except PostgresMissing as exc:
            pytest.fail(str(exc), pytrace=False)
        primary.create_database(DB)
        standby = primary.standby(cluster_root())
        primary.wait_streaming(standby.name)
        yield primary, standby
    finally:
        for cluster in (standby, primary):
            if cluster is not None:
                cluster.destroy()


def both(primary: PostgresCluster, standby: PostgresCluster) -> str:
    """The multi-host DSN a replica is given: whichever of the two accepts writes."""
    hosts = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
    return f"postgresql://postgres@{hosts}/{DB}?target_session_attrs=read-write"


def store_revision(cluster: PostgresCluster) -> int:
    return int(cluster.psql("SELECT revision FROM head", DB) or 0)


async def put(
    stub: pb_grpc.ConfigServiceStub, key: str, value: int, refusals: list[str] | None = None
) -> int:
    """A Put as the SDK sends it: a request id, retried with it while UNAVAILABLE; the
    messages of the failed attempts go to `refusals`."""
    request = pb.PutRequest(namespace=NS, key=key, value_json=json.dumps(value))

    async def attempt(left: float | None) -> pb.PutResponse:
        try:
            return await stub.Put(request, timeout=left)
        except grpc.RpcError as exc:
            if refusals is not None:
                refusals.append(f"{exc.code().name}: {exc.details()}")
            raise

    reply = await retry_call(request, attempt, DEADLINE)
    return int(reply.revision)


async def test_synchronous_failover_loses_no_acknowledged_write(
    tmp_path: Path, clusters: tuple[PostgresCluster, PostgresCluster]
) -> None:
    primary, standby = clusters
    primary.set_synchronous(standby.name)
    primary.wait_streaming(standby.name)
    acked: list[tuple[int, int, float]] = []  # revision, value (key k<value>), when
    seen: list[tuple[int, float]] = []  # revisions the watcher got, when
    refusals: list[str] = []  # failed attempts of the writes, retried
    with ConfigdProcess(tmp_path / "data", "--store", both(primary, standby)) as server:
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            created = await stub.CreateNamespace(pb.CreateNamespaceRequest(name=NS))
            watch = stub.Watch(
                pb.WatchRequest(namespaces=[NS], start_revision=created.revision + 1)
            )

            async def watching() -> None:
                async for event in watch:
                    if event.HasField("change_set"):
                        seen.append((event.change_set.revision, time.monotonic()))

            stop = asyncio.Event()

            async def writing() -> None:
                value = 0
                while not stop.is_set():
                    revision = await put(stub, f"k{value}", value, refusals)
                    acked.append((revision, value, time.monotonic()))
                    value += 1

            watcher = asyncio.create_task(watching())
            writer = asyncio.create_task(writing())
            try:
                await until_async(lambda: len(acked) >= 30, "writes before the failover", DEADLINE)
                await asyncio.to_thread(primary.kill)
                killed_at = time.monotonic()
                await asyncio.sleep(SWITCH)  # as long as an operator or a manager takes
                promoting_at = time.monotonic()
                await asyncio.to_thread(standby.promote)
                promoted = len(acked)
                await until_async(
                    lambda: len(acked) >= promoted + 30 or writer.done(),
                    "writes after the failover",
                    DEADLINE,
                )
                stop.set()
                await writer
                last = acked[-1][0]
                await until_async(
                    lambda: bool(seen) and seen[-1][0] >= last, "the watcher is current", DEADLINE
                )
            finally:
                stop.set()
                watcher.cancel()
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.RpcError):
                    await asyncio.gather(watcher, writer)
    # Writes waited through the switch: their attempts failed UNAVAILABLE, saying to retry.
    # (The postmaster's backends outlive its SIGKILL by a moment, and a commit they finish
    # then, replicated synchronously, is acknowledged: allow that moment, then none.)
    assert not [when for _, _, when in acked if killed_at + 0.3 < when < promoting_at], acked
    assert refusals
    assert all(r.startswith("UNAVAILABLE: ") and "retry" in r for r in refusals), refusals
    # Each acknowledged write took the next revision, once: no gap, no duplicate.
    revisions = [revision for revision, _, _ in acked]
    assert revisions == list(range(created.revision + 1, created.revision + 1 + len(acked)))
    # The watcher saw every revision once, in order, through the switch.
    assert [revision for revision, _ in seen] == revisions
    # Notifications resumed: the last writes reached the watcher within a second.
    delivered = dict(seen)
    for revision, _, when in acked[-10:]:
        assert delivered[revision] - when < 1.0
    # Every acknowledged write is on the promoted store, read through a configd on it alone.
    alone = f"postgresql://postgres@127.0.0.1:{standby.port}/{DB}"
    with ConfigdProcess(tmp_path / "after", "--store", alone) as after:
        async with grpc.aio.insecure_channel(after.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            stored = await stub.GetNamespace(pb.GetNamespaceRequest(name=NS))
    assert stored.revision == revisions[-1]
    document = json.loads(stored.document_json)
    mod_revisions = {meta.key: meta.mod_revision for meta in stored.keys}
    for revision, value, _ in acked:
        assert document[f"k{value}"] == value
        assert mod_revisions[f"k{value}"] == revision
    assert len(document) == len(acked)


async def test_a_promoted_standby_missing_commits_stops_writes_until_a_restart(
    tmp_path: Path, clusters: tuple[PostgresCluster, PostgresCluster]
) -> None:
    primary, standby = clusters
    with ConfigdProcess(tmp_path / "data", "--store", both(primary, standby)) as server:
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            await stub.CreateNamespace(pb.CreateNamespaceRequest(name=NS))
            kept = await put(stub, "a", 1)
            at_kept = await stub.GetNamespace(pb.GetNamespaceRequest(name=NS))
            await until_async(
                lambda: store_revision(standby) == kept, "the standby has replayed", DEADLINE
            )
            # The standby stops; the primary acknowledges more, asynchronously: on it alone.
            await asyncio.to_thread(standby.stop)
            await put(stub, "a", 2)
            applied = await put(stub, "b", 3)
            async with AsyncConfigClient(NS, addr=server.grpc_addr, **FAST) as client:
                await until_async(
                    lambda: client.revision == applied, "the SDK is current", DEADLINE
                )
                watch = stub.Watch(pb.WatchRequest(namespaces=[NS], start_revision=applied + 1))
                await asyncio.to_thread(primary.kill)
                await asyncio.to_thread(standby.start)
                await asyncio.to_thread(standby.promote)
                # configd reconnects to the promoted standby and finds it behind.
                started = time.monotonic()
                while (await readyz(server))[0] == 200:
                    assert time.monotonic() - started < DEADLINE, "the regression was not noticed"
                    await asyncio.sleep(0.05)
                status, body = await readyz(server)
                assert status == 503
                assert f"the store is at revision {kept}, below the {applied} this replica" in body
                assert await regressed_metric(server) == "configd_store_regressed 1.0"
                refused = await failure(
                    stub.Put(pb.PutRequest(namespace=NS, key="c", value_json="1"))
                )
                assert isinstance(refused, StoreRegressed)
                assert refused.code == "UNAVAILABLE"
                assert "this replica refuses writes and watches until it is restarted" in str(
                    refused
                )
                assert (refused.store_revision, refused.applied) == (kept, applied)
                assert isinstance(await failure(watch.read()), StoreRegressed)
                await until_async(
                    lambda: isinstance(client.status.last_error, StoreRegressed),
                    "the SDK hears the regression",
                    DEADLINE,
                )
                assert client.status.state is ClientState.RECONNECTING
                assert client.snapshot().to_dict() == {"a": 2, "b": 3}
                # Recovery: restarted, the replica serves the promoted store; the SDK resyncs.
                server.restart()
                await until_async(lambda: client.revision == kept, "the SDK resyncs", DEADLINE)
                assert client.snapshot().to_dict() == {"a": 1}
        async with grpc.aio.insecure_channel(server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            assert await stub.GetNamespace(pb.GetNamespaceRequest(name=NS)) == at_kept
            assert await put(stub, "c", 4) == kept + 1
        assert (await readyz(server))[0] == 200
