"""The storage contract (configd.storage.base: Storage, TokenStore), one set of tests run on
every backend: SQLite on a real file, PostgreSQL on a real cluster.

`backend.open()` opens another instance on the same store, held and closed as another process
would hold it (SQLite's locks belong to open files; PostgreSQL's to connections), so what
replicas rely on across processes is tested: StoreAhead, the doorbell, the log, the
compaction floor, tokens and write turns. Backend-specific behaviour stays in test_sqlite*.py
and test_postgresql.py.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from configd.core.errors import AlreadyExists, ReplicaBehind, StorageFailure, Unavailable
from configd.core.model import Namespace, ReleaseState, WriteKind
from configd.core.releases import abort_changes
from configd.storage.base import (
    StoreAhead,
    StoreBehind,
    StoredState,
    StoredToken,
    StoreHead,
    TokenStore,
)
from configd.storage.postgresql.options import PostgreSQLOptions
from configd.storage.postgresql.store import PostgreSQLStorage
from configd.storage.postgresql.tokens import PostgreSQLTokenStore
from configd.storage.sqlite.store import SQLiteOptions, SQLiteStorage
from configd.storage.sqlite.tokens import SQLiteTokenStore
from configd.testing_postgres import PostgresCluster
from tests.configd.storage import releases
from tests.configd.storage.writes import SCHEMA, create, put

AnyStorage = SQLiteStorage | PostgreSQLStorage

_databases = itertools.count()


def token(name: str, secret: bytes = b"") -> StoredToken:
    return StoredToken(
        name, (secret or name.encode()).ljust(32, b"."), (("", 3),), 1.0, None, None, "test"
    )


@dataclass
class Backend:
    """Opens instances of one store; closes them at the end of the test."""

    name: str
    _make: Callable[[float | None], AnyStorage]
    _make_newer: Callable[[], Awaitable[None]]
    _opened: list[AnyStorage | TokenStore] = field(default_factory=list)

    async def open(self, *, stale: float | None = None) -> tuple[AnyStorage, StoredState]:
        storage = self._make(stale)
        state = await storage.open()
        self._opened.append(storage)
        return storage, state

    async def tokens(self, storage: AnyStorage) -> TokenStore:
        store: TokenStore = (
            SQLiteTokenStore(storage)
            if isinstance(storage, SQLiteStorage)
            else PostgreSQLTokenStore(storage)
        )
        self._opened.append(store)
        return store

    async def make_newer(self) -> None:
        """Mark the store's schema as newer than this configd's."""
        await self._make_newer()

    async def close_all(self) -> None:
        for opened in reversed(self._opened):
            await opened.close()


def _sqlite(path: Path) -> Backend:
    import sqlite3

    from configd.storage.sqlite.files import DB_FILE
    from configd.storage.sqlite.migrations import MIGRATIONS

    def make(stale: float | None) -> AnyStorage:
        options = SQLiteOptions() if stale is None else SQLiteOptions(applied_stale_seconds=stale)
        return SQLiteStorage(path, options)

    def mark_newer() -> None:
        path.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path / DB_FILE)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        db.close()

    async def newer() -> None:
        mark_newer()

    return Backend("sqlite", make, newer)


def _postgresql(cluster: PostgresCluster) -> Backend:
    from configd.storage.postgresql.migrations import MIGRATIONS

    dbname = f"contract_{next(_databases)}"
    dsn = cluster.create_database(dbname)

    def make(stale: float | None) -> AnyStorage:
        options = PostgreSQLOptions(poll_interval=0.2, connect_timeout=5)
        if stale is not None:
            options = PostgreSQLOptions(
                poll_interval=0.2, connect_timeout=5, applied_stale_seconds=stale
            )
        return PostgreSQLStorage(dsn, options)

    async def newer() -> None:
        storage = PostgreSQLStorage(dsn)
        await storage.open()
        await storage.close()
        cluster.psql(f"UPDATE schema_migrations SET version = {len(MIGRATIONS) + 1}", dbname)

    return Backend("postgresql", make, newer)


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        made = _sqlite(tmp_path / "data")
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        if not cluster.running():
            cluster.start()
        made = _postgresql(cluster)
    try:
        yield made
    finally:
        await made.close_all()


async def until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.02)


# -- one process ---------------------------------------------------------------------------


async def test_a_batch_is_stored_whole_and_reloaded(backend: Backend) -> None:
    storage, state = await backend.open()
    assert state.revision == 0
    assert not state.namespaces
    first = put(2, "a", "1", request_id="req-a")
    assert first.changes[0].new is not None
    await storage.commit(
        [create(1), first, put(3, "a", "2", first.changes[0].new), put(4, "b", "3")]
    )
    await storage.close()
    reopened, state = await backend.open()
    assert state.revision == 4
    assert state.compact_revision == 0
    entries = state.namespaces["ns"].entries
    assert {
        k: (e.value_json, e.create_revision, e.mod_revision, e.version) for k, e in entries.items()
    } == {"a": ("2", 2, 3, 2), "b": ("3", 4, 4, 1)}
    assert state.schema_versions == {"ns": 1}
    assert dict(state.request_ids) == {"req-a": 2}
    assert state.request_ids_complete
    assert await reopened.revision_of_request("req-a") == 2
    assert await reopened.revision_of_request("req-b") is None
    # History: newest first, paged by before_revision, per key.
    assert [cs.revision for cs in await reopened.history("ns", None, 0, 10)] == [4, 3, 2, 1]
    assert [cs.revision for cs in await reopened.history("ns", None, 4, 2)] == [3, 2]
    assert [cs.revision for cs in await reopened.history("ns", "a", 0, 10)] == [3, 2]
    assert [cs.revision for cs in await reopened.changes_since(2, 2)] == [2, 3]
    change = await reopened.change_set(3)
    assert change is not None
    assert change.changes[0].old is not None
    assert change.changes[0].old.value_json == "1"
    assert change.kind is WriteKind.PUT
    assert (await reopened.change_set(2)) == first
    assert await reopened.change_set(9) is None
    assert await reopened.revision_at(3.5) == 3
    assert await reopened.revision_at(-1) == 0
    at_2 = await reopened.namespace_at("ns", 2)
    assert at_2 is not None
    assert dict(at_2.document()) == {"a": 1}
    assert await reopened.namespace_at("ns", 0) is None
    assert await reopened.schema("ns", 1) is not None
    assert await reopened.schema("ns", 2) is None


async def test_a_failed_batch_stores_nothing(backend: Backend) -> None:
    storage, _ = await backend.open()
    await storage.commit([create(1)])
    with pytest.raises(StorageFailure, match="nothing was committed"):
        # Revision 2 twice violates the primary key: the whole batch is rolled back.
        await storage.commit([put(2, "a", "1"), put(2, "b", "1")])
    assert [cs.revision for cs in await storage.changes_since(1, 10)] == [1]
    await storage.commit([put(2, "a", "1")])  # the store is usable after the failure


async def test_a_newer_schema_is_refused(backend: Backend) -> None:
    await backend.make_newer()
    with pytest.raises(StorageFailure, match="newer than this configd understands"):
        await backend.open()


async def test_compaction_keeps_what_namespace_at_needs(backend: Backend) -> None:
    storage, _ = await backend.open()
    first = put(2, "a", "1")
    assert first.changes[0].new is not None
    await storage.commit(
        [create(1), first, put(3, "b", "1"), put(4, "a", "2", first.changes[0].new)]
    )
    await storage.compact(4)
    assert (await storage.head()).compact_revision == 4
    at_4 = await storage.namespace_at("ns", 4)
    assert at_4 is not None
    assert dict(at_4.document()) == {"a": 2, "b": 1}
    assert await storage.change_set(2) is None  # compacted away
    assert [cs.revision for cs in await storage.changes_since(4, 10)] == [4]
    await storage.compact(2)  # never lower than before
    assert (await storage.head()).compact_revision == 4


# -- several processes ---------------------------------------------------------------------


async def test_the_store_orders_writes_of_several_processes(backend: Backend) -> None:
    a, _ = await backend.open()
    b, _ = await backend.open()
    await a.commit([create(1), put(2, "x", "1")])
    # b planned on revision 1 (it had not seen 2): refused whole, nothing stored.
    with pytest.raises(StoreAhead) as ahead:
        await b.commit([put(2, "y", "1")])
    assert ahead.value.revision == 2
    assert await b.head() == StoreHead(2, 0)
    log = await b.log_since(0, 10)
    assert [cs.revision for cs in log] == [1, 2]
    # A schema version written by the other process is read on first use.
    assert log[0].schema.schema_json == SCHEMA.schema_json
    assert await b.schema("ns", 1) == log[0].schema
    await b.commit([put(3, "y", "1")])
    assert [cs.revision for cs in await a.log_since(2, 10)] == [3]
    assert [cs.revision for cs in await a.log_since(0, 2)] == [1, 2]
    # Planned on a revision the store has not reached: the store lost commits.
    with pytest.raises(
        StoreBehind, match="below revision 8 that this process has applied"
    ) as behind:
        await a.commit([put(9, "z", "1")])
    assert behind.value.revision == 3
    assert (await a.head()).revision == 3


async def test_the_doorbell_rings_for_the_other_process_only(backend: Backend) -> None:
    a, _ = await backend.open()
    b, _ = await backend.open()
    waiting = asyncio.ensure_future(b.next_head(StoreHead(0, 0), 30.0))
    started = time.monotonic()
    await a.commit([create(1)])
    assert await asyncio.wait_for(waiting, 10) == StoreHead(1, 0)
    assert time.monotonic() - started < 5  # rung (or polled), not the 30 s timeout
    assert b.noticed_head == StoreHead(1, 0)
    # Its own commit does not ring b's own doorbell.
    await b.commit([put(2, "x", "1")])
    assert await b.next_head(StoreHead(1, 0), 0.5) == StoreHead(1, 0)
    assert (await a.next_head(StoreHead(1, 0), 30.0)).revision == 2
    # A compaction by another process is news too.
    await a.report_applied(2)
    await b.compact(2)
    assert await a.next_head(StoreHead(2, 0), 30.0) == StoreHead(2, 2)


async def test_one_maintainer_and_a_takeover_when_it_leaves(backend: Backend) -> None:
    first, _ = await backend.open()
    second, _ = await backend.open()
    assert (first.maintainer, second.maintainer) == (True, False)
    await first.close()
    deadline = time.monotonic() + 10
    while not second.maintainer:
        assert time.monotonic() < deadline, "nobody took over maintenance"
        await asyncio.sleep(0.05)


async def test_write_turns_are_exclusive(backend: Backend) -> None:
    a, _ = await backend.open()
    b, _ = await backend.open()
    await a.begin_write_turn(1.0)
    with pytest.raises(Unavailable, match="held the write turn"):
        await b.begin_write_turn(0.2)
    waiting = asyncio.ensure_future(b.begin_write_turn(10.0))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    a.end_write_turn()
    await asyncio.wait_for(waiting, 10)
    await b.commit([create(1)])  # a commit while holding the turn
    b.end_write_turn()
    await a.begin_write_turn(5.0)
    a.end_write_turn()
    a.end_write_turn()  # harmless without it


async def test_compaction_never_passes_the_lowest_applied_revision(backend: Backend) -> None:
    a, _ = await backend.open()
    b, _ = await backend.open()
    await a.commit([create(1), *(put(r, "x", str(r)) for r in range(2, 7))])
    await b.report_applied(2)  # b has applied 2: it needs 3.. to catch up
    assert await a.applied_floor() == 2
    with pytest.raises(ReplicaBehind) as refused:
        await a.compact(4)
    assert refused.value.lowest_applied == 2
    assert "compact at revision 3 or below" in str(refused.value)
    # Refused whole: nothing dropped, the compaction revision unchanged.
    assert await b.head() == StoreHead(6, 0)
    assert [cs.revision for cs in await b.log_since(2, 10)] == [3, 4, 5, 6]
    await a.compact(3)  # what b needs (3 and above) stays
    assert [cs.revision for cs in await b.log_since(2, 10)] == [3, 4, 5, 6]
    await b.report_applied(6)
    await a.compact(6)
    assert (await a.head()).compact_revision == 6
    await b.close()  # a process that stops holds nothing back
    assert await a.applied_floor() == 6


async def test_a_stopped_process_stops_holding_compaction_back_after_the_bound(
    backend: Backend,
) -> None:
    a, _ = await backend.open(stale=0.5)
    b, _ = await backend.open(stale=0.5)
    await a.commit([create(1), put(2, "x", "1")])
    await a.report_applied(2)
    assert await a.applied_floor() == 0  # b registered at 0 and reports nothing more
    await asyncio.sleep(1.0)
    await until(lambda: _floor_is(a, 2), "b's record went stale")
    await a.compact(2)
    assert (await b.head()).compact_revision == 2


async def _floor_is(storage: AnyStorage, revision: int) -> bool:
    """Whether the floor is `revision`, which `storage` reports it applied (a heartbeat)."""
    await storage.report_applied(revision)
    return await storage.applied_floor() == revision


# -- tokens ----------------------------------------------------------------------------------


async def test_tokens_across_processes(backend: Backend) -> None:
    a, _ = await backend.open()
    b, _ = await backend.open()
    ta, tb = await backend.tokens(a), await backend.tokens(b)
    assert await ta.open() == (await tb.open())
    assert (await ta.changes_since(0)).tokens == ()
    assert await ta.insert_first(token("admin"))
    assert not await tb.insert_first(token("other"))  # only ever one first token
    await tb.insert(token("ci"))
    with pytest.raises(AlreadyExists, match="'ci' exists or existed"):
        await ta.insert(token("ci", b"another secret"))
    changes = await ta.changes_since(0)
    assert [t.name for t in changes.tokens] == ["admin", "ci"]
    assert changes.generation == 2
    # wait_change: a's doorbell hears b's write.
    waiting = asyncio.ensure_future(ta.wait_change(2, 30))
    revoked = await tb.revoke("ci", 5.0)
    assert revoked is not None
    assert revoked.revoked_at == 5.0
    await asyncio.wait_for(waiting, 10)
    assert await tb.revoke("ci", 6.0) == revoked  # already revoked: kept as it was
    assert await tb.revoke("nobody", 6.0) is None
    changes = await ta.changes_since(2)
    assert [(t.name, t.revoked_at) for t in changes.tokens] == [("ci", 5.0)]
    assert changes.generation == 3
    await ta.replace(token("admin", b"new secret"))
    changes = await tb.changes_since(3)
    assert [t.hash[:10] for t in changes.tokens] == [b"new secret"]
    assert changes.generation == 4
    # Once 4 is noticed and nothing is new, wait_change waits out its bound.
    await asyncio.wait_for(tb.wait_change(3, 30), 10)
    started = time.monotonic()
    await tb.wait_change(4, 0.3)
    assert time.monotonic() - started >= 0.25
    reopened = await backend.tokens(b)
    loaded = await reopened.open()
    assert loaded.generation == 4
    assert [t.name for t in loaded.tokens] == ["admin", "ci"]


# -- releases, clients and acks ------------------------------------------------------------


def _document(namespace: Namespace | None) -> dict[str, object]:
    assert namespace is not None
    return dict(namespace.document())


async def test_a_release_starts_and_is_promoted(backend: Backend) -> None:
    storage, _ = await backend.open()
    started = releases.start(await releases.base(storage))
    await storage.commit([started.change_set])
    # The start is in the log with its release and the slice's changes; the document stays.
    assert await storage.log_since(3, 10) == [started.change_set]
    at_start = await storage.namespace_at("ns", 4)
    assert _document(at_start) == {"a": 1, "b": 2}
    assert at_start is not None
    assert at_start.mod_revision == 4
    assert at_start.release is None
    await storage.close()

    # Reopened, the namespace carries its running release.
    storage, state = await backend.open()
    running = state.namespaces["ns"]
    assert running.release == started.change_set.release
    assert running == started.namespace
    assert [cs.revision for cs in await storage.history("ns", "b", 0, 10)] == [4, 3]
    assert [cs.revision for cs in await storage.history("ns", "c", 0, 10)] == [4]

    promoted = releases.end(running, ReleaseState.PROMOTED)
    await storage.commit([promoted])
    assert await storage.log_since(4, 10) == [promoted]
    assert _document(await storage.namespace_at("ns", 5)) == {"a": 10, "c": "x"}
    # The start reads back as committed, though its release has ended since.
    assert await storage.change_set(4) == started.change_set
    assert [cs.revision for cs in await storage.history("ns", "b", 0, 10)] == [5, 4, 3]
    ended = await storage.release("ns", 0)
    assert ended == promoted.release
    assert ended is not None
    assert ended.state is ReleaseState.PROMOTED
    assert ended.outcome_json.startswith('[["c1"')
    assert await storage.release("ns", 4) == ended
    assert await storage.release("ns", 3) is None
    assert await storage.release("other", 0) is None
    await storage.close()

    _, state = await backend.open()
    assert state.namespaces["ns"].release is None
    assert _document(state.namespaces["ns"]) == {"a": 10, "c": "x"}


async def test_a_release_starts_and_is_aborted(backend: Backend) -> None:
    storage, _ = await backend.open()
    started = releases.start(await releases.base(storage))
    assert started.namespace is not None
    aborted = releases.end(started.namespace, ReleaseState.ABORTED)
    await storage.commit([started.change_set, aborted])
    assert await storage.log_since(3, 10) == [started.change_set, aborted]
    assert started.change_set.release is not None
    assert aborted.changes == abort_changes(started.change_set.release)
    assert _document(await storage.namespace_at("ns", 5)) == {"a": 1, "b": 2}
    assert [cs.revision for cs in await storage.history("ns", "c", 0, 10)] == [5, 4]
    assert [cs.revision for cs in await storage.history("ns", "a", 5, 10)] == [4, 2]
    await storage.close()

    storage, state = await backend.open()
    assert state.namespaces["ns"].release is None
    assert state.namespaces["ns"].mod_revision == 5
    assert _document(state.namespaces["ns"]) == {"a": 1, "b": 2}
    stored = await storage.release("ns", 0)
    assert stored == aborted.release
    assert stored is not None
    assert stored.state is ReleaseState.ABORTED
    assert stored.end_revision == 5
    assert stored.ended_by == "boss"


async def test_clients_and_acks_are_shared_and_merged(backend: Backend) -> None:
    storage, _ = await backend.open()
    other, _ = await backend.open()
    c1, c2 = releases.client("c1", "r1", 10.0), releases.client("c2", "r2", 10.0)
    await storage.record_clients([c1, c2], [releases.ack(applied=5, applied_at=5.0)])
    assert await other.load_clients(0) == [c1, c2]
    # Each side keeps its higher revision, with its time and reason.
    await other.record_clients([], [releases.ack(applied=3, rejected=6, reason="bad")])
    await storage.record_clients([c1], [releases.ack(applied=7, applied_at=7.0, rejected=4)])
    assert await other.load_acks("ns") == [releases.ack(7, 7.0, 6, "bad")]
    assert await other.load_acks("elsewhere") == []

    await storage.touch_clients("r1", 50.0)
    await storage.disconnect_replica("r1", 60.0)
    await storage.touch_clients("r1", 70.0)  # a disconnected client is not refreshed
    gone = replace(c1, seen_at=60.0, connected=False)
    assert await other.load_clients(0) == [gone, c2]
    assert await other.load_clients(55.0) == [gone]
    # Forgotten: not connected and not seen since, with its acks; c2 is still connected.
    await other.forget_clients(100.0)
    assert await storage.load_clients(0) == [c2]
    assert await storage.load_acks("ns") == []
