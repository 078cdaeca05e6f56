"""Replicas on one host: several configd processes over one data directory (issue 16).

The first tests run two ConfigService objects over one directory in this process (each with
its own storage, locks, connections, writer and follower, exactly as two processes have); the
last ones run two real `configd serve` processes on different ports and talk gRPC to both.
Waiting for a replica to catch up is a poll with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from configd.core.errors import (
    NamespaceNotFound,
    PreconditionFailed,
    SchemaViolation,
    Unavailable,
)
from configd.core.model import KeyAbsent, KeyModRevision
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.service import ConfigService
from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.waits import until_async

ME = {"author": "tester", "message": ""}
DEADLINE = 10.0


async def until(condition: Callable[[], bool], what: str) -> None:
    await until_async(condition, what, DEADLINE)


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[ConfigService, ConfigService]]:
    async with (
        ConfigService(SQLiteStorage(tmp_path)) as a,
        ConfigService(SQLiteStorage(tmp_path)) as b,
    ):
        yield a, b


async def test_a_write_on_one_is_visible_on_the_other_and_revisions_are_gap_free(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    created = await a.create_namespace("app", "", **ME)
    await until(lambda: "app" in b.namespaces, "the namespace reaches b")
    revisions = [created.revision]
    for i in range(20):
        # Alternate, and do not wait for the other to have seen the last write: the store
        # orders them, the writer catches up when it is behind.
        service = (a, b)[i % 2]
        revisions.append((await service.put("app", f"k{i % 3}", str(i), **ME)).revision)
    assert revisions == list(range(1, 22))
    await until(lambda: a.revision == b.revision == 21, "both at 21")
    assert a.namespaces == b.namespaces
    history_a = await a.history("app", page_size=100)
    history_b = await b.history("app", page_size=100)
    assert [cs.revision for cs in history_a.entries] == list(range(21, 0, -1))
    assert history_a == history_b
    # Key metadata is the same on both, whoever wrote.
    assert a.namespaces["app"].entries["k2"] == b.namespaces["app"].entries["k2"]
    assert b.follower.holes == 0


async def test_a_writer_behind_the_store_catches_up_and_plans_again(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    await a.create_namespace("app", "", document_json='{"y":0}', **ME)
    await until(lambda: "app" in b.namespaces, "the namespace reaches b")
    await b.follower.stop()  # b hears of nothing more but through its own writes
    written = await a.put("app", "k", "1", **ME)
    # b plans on a state without a's write: the store refuses the batch, b catches up from
    # the log and plans again, so the precondition sees a's write.
    cas = await b.put("app", "k", "2", preconditions=[KeyModRevision("k", written.revision)], **ME)
    assert cas.revision == written.revision + 1
    assert b.writer.replans == 1
    # A refusal on a stale view is checked against the store before it is answered: b still
    # sees "y", which a deleted, so only after catching up does "y absent" hold.
    await a.delete("app", "y", **ME)
    created = await b.put("app", "y", "3", preconditions=[KeyAbsent("y")], **ME)
    assert created.revision == cas.revision + 2
    assert b.writer.replans == 2
    # And a refusal that stands is answered once the log shows nothing newer.
    with pytest.raises(PreconditionFailed):
        await b.put("app", "y", "4", preconditions=[KeyAbsent("y")], **ME)
    await until(lambda: a.revision == b.revision, "a applies b's writes")
    assert b.namespaces == a.namespaces


async def test_concurrent_cas_through_both_has_exactly_one_winner_per_round(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    await a.create_namespace("cas", "", **ME)
    current = (await a.put("cas", "lock", '"none"', **ME)).revision
    for round_ in range(15):
        attempts = [
            (a, b)[i % 2].put(
                "cas",
                "lock",
                json.dumps(f"r{round_}-c{i}"),
                preconditions=[KeyModRevision("lock", current)],
                **ME,
            )
            for i in range(10)
        ]
        outcomes = await asyncio.gather(*attempts, return_exceptions=True)
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        losers = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, PreconditionFailed) for o in losers), losers
        assert winners[0].revision == current + 1  # gap-free: no loser took a revision
        current = winners[0].revision


async def test_a_schema_set_on_one_binds_writes_on_the_other(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    await a.create_namespace("svc", "", **ME)
    await b.put("svc", "port", "8080", **ME)
    schema = json.dumps({"type": "object", "properties": {"port": {"type": "integer"}}})
    result = await a.set_schema("svc", schema, **ME)
    # No waiting for b to hear of it: its write is checked against the store's schema.
    with pytest.raises(SchemaViolation):
        await b.put("svc", "port", '"eighty"', **ME)
    assert b.namespaces["svc"].schema.version == 2
    assert (await b.get_schema("svc")).revision == result.revision
    assert (await b.put("svc", "port", "80", **ME)).revision == result.revision + 1


async def test_create_and_delete_namespace_reach_the_other(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    await a.create_namespace("tmp", "", document_json='{"x":1}', **ME)
    await until(lambda: "tmp" in b.namespaces, "create reaches b")
    assert dict(b.namespaces["tmp"].document()) == {"x": 1}
    await a.delete_namespace("tmp", force=True, **ME)
    await until(lambda: "tmp" not in b.namespaces, "delete reaches b")
    with pytest.raises(NamespaceNotFound):
        await b.put("tmp", "x", "2", **ME)
    # Re-created on b: schema numbering continues from what a did.
    again = await b.create_namespace("tmp", "", **ME)
    assert again.change_set.schema.version == 2


# -- two real `configd serve` processes ------------------------------------------------------


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[ConfigdProcess, ConfigdProcess]]:
    data = tmp_path / "data"
    with ConfigdProcess(data) as first:
        second = ConfigdProcess(data)
        second.log_path = tmp_path / "second.log"
        with second:
            yield first, second


Stubs = tuple[pb_grpc.ConfigServiceStub, pb_grpc.ConfigServiceStub]


@pytest.fixture
async def stubs(two_servers: tuple[ConfigdProcess, ConfigdProcess]) -> AsyncIterator[Stubs]:
    """A ConfigService stub for each of the two processes."""
    first, second = two_servers
    async with (
        grpc.aio.insecure_channel(first.grpc_addr) as ch_a,
        grpc.aio.insecure_channel(second.grpc_addr) as ch_b,
    ):
        yield pb_grpc.ConfigServiceStub(ch_a), pb_grpc.ConfigServiceStub(ch_b)


async def _watch(stub: pb_grpc.ConfigServiceStub, start: int, want: int, into: list[int]) -> None:
    """Collect change-set revisions from `start` until `want` of them arrived."""
    call = stub.Watch(pb.WatchRequest(prefixes=[""], start_revision=start))
    try:
        async for message in call:
            if message.HasField("change_set"):
                into.append(message.change_set.revision)
                if len(into) >= want:
                    return
    finally:
        call.cancel()


async def test_two_processes_share_a_data_directory(stubs: Stubs) -> None:
    stub_a, stub_b = stubs
    created = await stub_a.CreateNamespace(pb.CreateNamespaceRequest(name="app"))
    assert created.revision == 1
    total = 40
    # A watch on b from the start sees every write, through a and b, in order, once.
    on_b: list[int] = []
    watcher = asyncio.ensure_future(_watch(stub_b, 1, total + 1, on_b))
    revisions = []
    for i in range(total):
        stub = (stub_a, stub_b)[i % 2]
        put = await stub.Put(pb.PutRequest(namespace="app", key=f"k{i % 4}", value_json=str(i)))
        revisions.append(put.revision)
    assert revisions == list(range(2, total + 2))
    await asyncio.wait_for(watcher, DEADLINE)
    assert on_b == list(range(1, total + 2))
    # Resumed on the other process from the middle: no gap, no duplicate.
    on_a: list[int] = []
    await asyncio.wait_for(_watch(stub_a, 21, total + 1 - 20, on_a), DEADLINE)
    assert on_a == list(range(21, total + 2))
    # A write on a is readable on b within a bound.
    await stub_a.Put(pb.PutRequest(namespace="app", key="last", value_json='"a"'))
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            got = await stub_b.Get(pb.GetRequest(namespace="app", key="last"))
            break
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
        assert code == grpc.StatusCode.NOT_FOUND
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    assert (got.value_json, got.revision) == ('"a"', total + 2)
    history_a = await stub_a.History(pb.HistoryRequest(namespace="app", page_size=100))
    history_b = await stub_b.History(pb.HistoryRequest(namespace="app", page_size=100))
    assert history_a == history_b
    assert [e.revision for e in history_a.entries] == list(range(total + 2, 0, -1))


async def test_cas_race_across_two_processes(stubs: Stubs) -> None:
    await stubs[0].CreateNamespace(pb.CreateNamespaceRequest(name="cas"))
    current = (await stubs[1].Put(pb.PutRequest(namespace="cas", key="k", value_json="0"))).revision
    for round_ in range(10):
        condition = pb.Precondition(
            key_mod_revision=pb.KeyModRevision(key="k", mod_revision=current)
        )
        calls = [
            stubs[i % 2].Put(
                pb.PutRequest(
                    namespace="cas",
                    key="k",
                    value_json=str(round_ * 100 + i),
                    preconditions=[condition],
                )
            )
            for i in range(20)
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(winners) == 1, outcomes
        for loser in outcomes:
            if isinstance(loser, BaseException):
                assert isinstance(loser, grpc.aio.AioRpcError)
                assert loser.code() == grpc.StatusCode.FAILED_PRECONDITION, loser
        assert winners[0].revision == current + 1
        current = winners[0].revision


async def test_schema_and_namespaces_across_two_processes(stubs: Stubs) -> None:
    stub_a, stub_b = stubs
    await stub_a.CreateNamespace(pb.CreateNamespaceRequest(name="svc"))
    await stub_b.Put(pb.PutRequest(namespace="svc", key="port", value_json="8080"))
    schema = json.dumps({"type": "object", "properties": {"port": {"type": "integer"}}})
    await stub_a.SetSchema(pb.SetSchemaRequest(name="svc", schema_json=schema))
    # b is checked against the store's schema, whether or not it heard of it yet.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub_b.Put(pb.PutRequest(namespace="svc", key="port", value_json='"x"'))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Namespaces created and deleted through one are listed accordingly by the other.
    await stub_b.CreateNamespace(pb.CreateNamespaceRequest(name="gone"))
    await stub_b.DeleteNamespace(pb.DeleteNamespaceRequest(name="gone"))
    await stub_b.CreateNamespace(pb.CreateNamespaceRequest(name="kept"))
    deadline = time.monotonic() + DEADLINE
    while True:
        listed = await stub_a.ListNamespaces(pb.ListNamespacesRequest())
        if listed.revision >= 6:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    assert [n.name for n in listed.namespaces] == ["kept", "svc"]


async def test_busy_writers_on_both_take_turns_and_none_is_refused(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    """Both processes write as fast as they can: they take turns to commit, so a batch is
    overtaken at most once (one replan per commit at most), and no write is refused for
    having been overtaken again and again."""
    a, b = replicas
    await a.create_namespace("busy", "", **ME)
    await until(lambda: "busy" in b.namespaces, "the namespace reaches b")

    async def writer(service: ConfigService, name: str) -> list[int]:
        async def one(i: int) -> int:
            return (await service.put("busy", f"{name}{i % 10}", str(i), **ME)).revision

        revisions: list[int] = []
        for start in range(0, 300, 30):
            revisions += await asyncio.gather(*(one(i) for i in range(start, start + 30)))
        return revisions

    from_a, from_b = await asyncio.gather(writer(a, "a"), writer(b, "b"))
    assert sorted(from_a + from_b) == list(range(2, 602))  # every write stored, no gap
    for service in (a, b):
        assert service.writer.replans <= service.writer.commits
    await until(lambda: a.revision == b.revision == 601, "both at 601")
    assert a.namespaces == b.namespaces


async def test_the_write_turn_is_one_process_at_a_time(tmp_path: Path) -> None:
    async with (
        ConfigService(SQLiteStorage(tmp_path)) as a,
        ConfigService(SQLiteStorage(tmp_path)) as b,
    ):
        await a.storage.begin_write_turn(1.0)
        with pytest.raises(Unavailable) as refused:
            await b.storage.begin_write_turn(0.2)
        assert refused.value.detail == (
            "another configd process sharing this store has held the write turn for over "
            "0.2 s, so the write was not stored; retry"
        )
        waiting = asyncio.ensure_future(b.storage.begin_write_turn(5.0))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        a.storage.end_write_turn()
        await asyncio.wait_for(waiting, 5.0)
        b.storage.end_write_turn()
