"""SQLite storage (aiosqlite, WAL): the embedded default backend.

Durability: `synchronous=FULL` by default, so a commit is on disk when `commit()` returns.
Writes use one connection in a thread of its own (the service's writer task is the only caller,
one batch at a time), and a whole transaction is a single hand-off to that thread: with one
hand-off per statement, the event loop spent more time on thread wake-ups than on the write.
That one hand-off also checks, under the write lock, that no other process committed since the
batch was planned (StoreAhead). History reads use a second, read-only aiosqlite connection, so
they never wait for a write (WAL readers see the last committed state); the revision-log
follower reads on a third, and a thread with a fourth notices other processes' commits
(follow.py). Several processes may share the file (locks.py). sqlite3 errors become
StorageFailure here and nowhere above.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite

from configd import __version__
from configd.core.errors import ReplicaBehind, StorageFailure
from configd.core.model import (
    ChangeSet,
    Namespace,
    Release,
    ReleaseState,
    SchemaVersion,
)
from configd.core.releases import AckRecord, ClientRecord
from configd.storage.base import BackupInfo, StoredState, StoreHead, check_base
from configd.storage.noticed import NoticedHead
from configd.storage.release_rows import (
    RELEASE_COLUMNS,
    end_release_sql,
    insert_release_sql,
    stored_release,
)
from configd.storage.rows import (
    CHANGE_COLUMNS,
    NAMESPACE_HEAD_COLUMNS,
    REVISION_COLUMNS,
    SchemaCache,
    batch_rows,
    change_sets,
    deleted,
    namespace_at,
    release_revisions,
)
from configd.storage.sqlite.applied import STALE_AFTER, AppliedRecords
from configd.storage.sqlite.backup import backup_database
from configd.storage.sqlite.clients import SQLiteClients
from configd.storage.sqlite.files import DB_FILE, database_size
from configd.storage.sqlite.follow import HEAD_SQL, CommitWatcher
from configd.storage.sqlite.locks import DataDirLocks
from configd.storage.sqlite.migrations import MIGRATIONS, migrate
from configd.storage.turns import wait_for_turn

T = TypeVar("T")


class Synchronous(enum.Enum):
    """SQLite's synchronous setting. NORMAL may lose the last commits on power loss (not on a
    process crash): acknowledged writes could vanish, so FULL is the default."""

    FULL = "FULL"
    NORMAL = "NORMAL"


@dataclass(frozen=True, slots=True)
class SQLiteOptions:
    synchronous: Synchronous = Synchronous.FULL
    busy_timeout_ms: int = 5_000
    # How often the follower's doorbell polls for other processes' commits (a datagram from
    # the committing process usually wakes it sooner).
    poll_interval_ms: int = 20
    # Seconds after which a live process that stopped reporting its applied revision (hung,
    # stopped) no longer holds compaction back (applied.py).
    applied_stale_seconds: float = STALE_AFTER


LOADED_REQUEST_IDS = 100_000
"""Request ids loaded at start (the newest); older ones are read with revision_of_request."""

IDENTITY = f"configd {__version__}, database schema {len(MIGRATIONS)}"
"""Who serves a data directory; every process sharing one must be the same (locks.py)."""


Statement = tuple[str, Sequence[Sequence[Any]]]


def _transaction(
    db: sqlite3.Connection,
    statements: Sequence[Statement],
    base: int | None = None,
    guard: Callable[[], None] | None = None,
) -> None:
    """Run `statements` (each an executemany) as one IMMEDIATE transaction, in the writer
    thread. All or nothing. With `base`, first check under the write lock that the store's
    highest revision is `base` (StoreAhead if another process committed past it, StoreBehind
    if the store lost commits); `guard`
    runs under the write lock too, and refuses by raising."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if guard is not None:
            guard()
        if base is not None:
            check_base(int(db.execute(_MAX_REVISION).fetchone()[0]), base)
        for sql, rows in statements:
            if rows:
                db.executemany(sql, rows)
        db.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (SQLITE_FULL, SQLITE_IOERR): a second
        # ROLLBACK would fail and hide the real error.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


_MAX_REVISION = "SELECT coalesce(max(revision), 0) FROM revisions"

# The revisions of a namespace's release starts and aborts whose changes touch a key, below
# a bound (parameters: namespace, key, bound): they write no `changes` rows. Only those
# still in `revisions` (not compacted), so they never take a place of the history's LIMIT.
_RELEASE_TOUCHES = (
    "SELECT v.revision FROM revisions v JOIN releases r ON r.namespace = v.namespace"
    f" AND v.revision IN (r.id, CASE WHEN r.state = {ReleaseState.ABORTED.value}"
    " THEN r.end_revision END)"
    " WHERE r.namespace = ? AND EXISTS (SELECT 1 FROM json_each(r.changes) c"
    " WHERE json_extract(c.value, '$.key') = ?) AND v.revision < ?"
)


class _WriterThread:
    """The write connection and the one thread that uses it.

    A thread of its own, not a ThreadPoolExecutor: a hand-off is one queue put there and one
    call_soon_threadsafe back, where run_in_executor also builds a concurrent.futures.Future and
    chains it to an asyncio one through two more callbacks. A daemon thread: a commit cut off
    by the process exiting was never acknowledged, and SQLite rolls it back."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[_Work[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, name="configd-sqlite-writer", daemon=True
        )
        self._thread.start()
        self._db: sqlite3.Connection | None = None

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            item.run()

    async def _call(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._work.put(_Work(work, future, loop))
        return await future

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` with the connection, in the writer thread."""
        db = self._db
        if db is None:
            raise StorageFailure("the database is closed")
        return await self._call(lambda: work(db))

    async def open(
        self, path: Path, synchronous: Synchronous, busy_timeout_ms: int, *, checkpoints: bool
    ) -> None:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(path, isolation_level=None)
            try:
                db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                mode = db.execute("PRAGMA journal_mode = WAL").fetchone()
                if mode is None or str(mode[0]).lower() != "wal":
                    raise StorageFailure(f"cannot switch {path} to WAL mode (got {mode})")
                db.execute(f"PRAGMA synchronous = {synchronous.value}")
                if not checkpoints:  # the maintenance process checkpoints (follow.py)
                    db.execute("PRAGMA wal_autocheckpoint = 0")
            except BaseException:
                db.close()
                raise
            return db

        self._db = await self._call(connect)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                await self._call(db.close)
        self._work.put(None)  # the thread ends after what is queued (a hung commit: later)


@dataclass(slots=True)
class _Work(Generic[T]):
    """One call for the writer thread, and where its outcome goes."""

    work: Callable[[], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop

    def run(self) -> None:
        if self.future.cancelled():  # its caller gave up before it began
            return
        try:
            result = self.work()
        except BaseException as exc:
            self._settle(self._fail, exc)
        else:
            self._settle(self._succeed, result)

    def _settle(self, how: Callable[[Any], None], outcome: Any) -> None:
        # RuntimeError: the loop is closed, nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(how, outcome)

    def _succeed(self, result: T) -> None:
        if not self.future.done():  # cancelled meanwhile
            self.future.set_result(result)

    def _fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class SQLiteStorage:
    """Storage in `<data_dir>/configd.db`, shared by every configd process serving the
    directory (configd.storage.sqlite.locks says who may).

    A configd.storage.base.Storage, StorageAdmin and ClientStore."""

    def __init__(
        self, data_dir: Path, options: SQLiteOptions | None = None, *, identity: str = IDENTITY
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DB_FILE
        self._options = options or SQLiteOptions()
        self._writer: _WriterThread | None = None
        self._reader: aiosqlite.Connection | None = None
        self._log_reader: aiosqlite.Connection | None = None
        self._locks = DataDirLocks(data_dir, identity)
        self._applied = AppliedRecords(data_dir, stale_after=self._options.applied_stale_seconds)
        self._applied_written = 0.0  # monotonic time of the last record write
        self._watcher: CommitWatcher | None = None
        self._schemas = SchemaCache()
        self._clients = SQLiteClients(self.path, self._options.busy_timeout_ms)
        # The head the doorbell thread last reported, and who hears of the tokens' generation
        # moving (tokens.py:SQLiteTokenStore).
        self.noticed = NoticedHead()

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> StoredState:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageFailure(
                f"cannot create data directory {self.data_dir}: {exc.strerror}"
            ) from exc
        try:
            # Join, migrate and load with no other process starting meanwhile.
            await self._locks.begin_start()
            self._locks.join()
            maintainer = self._locks.try_maintenance()
            self._writer = _WriterThread()
            await self._writer.open(
                self.path,
                self._options.synchronous,
                self._options.busy_timeout_ms,
                checkpoints=maintainer,
            )
            await self._migrate(self._writer)
            # Before loading: from now on no compaction drops what this process will need.
            self._applied.register()
            self._reader = await self._connect_reader()
            self._log_reader = await self._connect_reader()
            await self._clients.open()
            state = await self._load()
            self.noticed.start(StoreHead(state.revision, state.compact_revision))
            self._watcher = CommitWatcher(
                self.path,
                self.data_dir,
                self._locks,
                self.noticed.noticed,
                self.noticed.tokens_noticed,
                poll_interval=self._options.poll_interval_ms / 1000,
                busy_timeout_ms=self._options.busy_timeout_ms,
                autocheckpoint=maintainer,
            )
            self._watcher.own_revision = state.revision
            await self.report_applied(state.revision)
            self._watcher.start()
            self._locks.end_start()
            return state
        except sqlite3.Error as exc:
            await self.close()
            raise StorageFailure(
                f"cannot open database {self.path}: {exc}; check that it is a configd "
                "database and that the directory is writable"
            ) from exc
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._watcher is not None:
            await self._watcher.stop()
            self._watcher = None
        for reader in (self._reader, self._log_reader):
            if reader is not None:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await reader.close()
        if self._writer is not None:
            await self._writer.close()
        self._reader = self._log_reader = self._writer = None
        await self._clients.close()
        self._applied.close()
        self._locks.release()

    def claim_sole_use(self, purpose: str) -> None:
        """Refuse (StorageFailure) if another process serves the data directory, and keep
        others from starting until close(): for copying the whole store (configd migrate)."""
        self._locks.claim_sole_use(purpose)

    @property
    def maintainer(self) -> bool:
        return self._locks.maintainer

    async def report_applied(self, revision: int) -> None:
        # The record is rewritten when it changed, and once a second as a heartbeat
        # (applied.STALE_AFTER); this process's own floor is what it reported last.
        self._applied.applied = revision
        now = asyncio.get_running_loop().time()
        if revision != self._applied.revision or now - self._applied_written >= 1.0:
            self._applied.write(revision)
            self._applied_written = now

    async def applied_floor(self) -> int | None:
        return self._applied.floor()

    async def _connect_reader(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await connection.execute(f"PRAGMA busy_timeout = {int(self._options.busy_timeout_ms)}")
            await connection.execute("PRAGMA query_only = ON")
        except BaseException:
            # Its worker thread would otherwise keep the process alive.
            await connection.close()
            raise
        return connection

    async def _migrate(self, writer: _WriterThread) -> None:
        await writer.run(lambda db: migrate(db, self.path))

    # -- loading ---------------------------------------------------------------------------

    def _writer_thread(self) -> _WriterThread:
        if self._writer is None:
            raise StorageFailure("the database is closed")
        return self._writer

    async def _fetchall(
        self, sql: str, params: Sequence[Any] = (), *, log: bool = False
    ) -> Iterable[sqlite3.Row]:
        """Rows from the history reader, or (log=True) from the follower's own reader."""
        reader = self._log_reader if log else self._reader
        if reader is None:
            raise StorageFailure("the database is closed")
        try:
            return await reader.execute_fetchall(sql, params)
        except sqlite3.Error as exc:
            raise StorageFailure(f"reading {self.path} failed: {exc}") from exc

    async def schema(self, namespace: str, version: int) -> SchemaVersion | None:
        return await self._schemas.get(namespace, version, self._read_schema)

    async def _schema(self, namespace: str, version: int) -> SchemaVersion:
        return await self._schemas.require(namespace, version, self._read_schema)

    async def _read_schema(self, namespace: str, version: int) -> list[sqlite3.Row]:
        return list(
            await self._fetchall(
                "SELECT revision, schema FROM schemas WHERE namespace = ? AND version = ?",
                (namespace, version),
            )
        )

    async def _load(self) -> StoredState:
        """The current state, read in one read transaction (others may be committing)."""
        assert self._reader is not None
        await self._reader.execute("BEGIN")
        try:
            return await self._load_in_transaction()
        finally:
            await self._reader.execute("COMMIT")

    async def _load_in_transaction(self) -> StoredState:
        return await self._schemas.load_state(self._fetchall, HEAD_SQL, "?", LOADED_REQUEST_IDS)

    # -- writing ---------------------------------------------------------------------------

    async def begin_write_turn(self, within: float) -> None:
        # A blocking flock in a thread could not be given up at the deadline, so polled.
        locks = self._locks

        async def try_take() -> bool:
            return locks.try_write_turn()

        await wait_for_turn(try_take, within, max_delay=0.001)

    def end_write_turn(self) -> None:
        self._locks.end_write_turn()

    async def commit(self, batch: Sequence[ChangeSet]) -> None:
        if not batch:
            return
        rows = batch_rows(batch)
        statements: list[Statement] = [
            ("INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.revisions),
            ("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.changes),
            ("INSERT INTO schemas VALUES (?, ?, ?, ?)", rows.schemas),
            ("INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?, ?, ?)", rows.kv_upserts),
            ("DELETE FROM kv WHERE namespace = ? AND key = ?", rows.kv_removals),
            ("INSERT OR REPLACE INTO namespaces VALUES (?, ?, ?, ?)", rows.namespace_upserts),
            ("DELETE FROM namespaces WHERE name = ?", rows.namespace_removals),
            (insert_release_sql("?"), rows.release_inserts),
            (end_release_sql("?"), rows.release_ends),
        ]
        base, last = batch[0].revision - 1, batch[-1].revision
        watcher, applied = self._watcher, self._applied

        def transaction(db: sqlite3.Connection) -> None:
            _transaction(db, statements, base)
            # This process applies its own batch right away (it was planned on the store's
            # head), so its own compactions may count it.
            applied.applied = last
            if watcher is not None:  # still in the write thread: no second hand-off
                watcher.own_revision = last
                watcher.ring()

        try:
            await self._writer_thread().run(transaction)
        except sqlite3.Error as exc:
            raise StorageFailure(
                f"the write could not be stored ({exc}); nothing was committed"
            ) from exc
        self._schemas.committed(batch)

    # -- following other processes ---------------------------------------------------------

    def ring(self) -> None:
        """Wake the other processes' doorbells now (after a token write)."""
        if self._watcher is not None:
            self._watcher.ring()

    @property
    def busy_timeout_ms(self) -> int:
        return self._options.busy_timeout_ms

    async def head(self) -> StoreHead:
        rows = list(await self._fetchall(HEAD_SQL, log=True))
        head = StoreHead(int(rows[0][0]), int(rows[0][1]))
        self.noticed.noticed(head)
        return head

    async def next_head(self, known: StoreHead, within: float) -> StoreHead:
        if not self.noticed.started:
            raise StorageFailure("the database is closed")
        return await self.noticed.next_head(known, within)

    @property
    def noticed_head(self) -> StoreHead:
        return self.noticed.head

    async def log_since(self, after: int, limit: int) -> list[ChangeSet]:
        rows = await self._fetchall(
            f"SELECT {self._REVISION_COLUMNS} FROM revisions"
            " WHERE revision > ? ORDER BY revision LIMIT ?",
            (after, limit),
            log=True,
        )
        return await self._change_sets(rows, log=True)

    # -- clients (ClientStore, on a connection of their own: sqlite/clients.py) -----------

    async def record_clients(
        self, clients: Sequence[ClientRecord], acks: Sequence[AckRecord]
    ) -> None:
        await self._clients.record_clients(clients, acks)

    async def touch_clients(self, replica: str, seen_at: float) -> None:
        await self._clients.touch_clients(replica, seen_at)

    async def disconnect_replica(self, replica: str, when: float) -> None:
        await self._clients.disconnect_replica(replica, when)

    async def load_clients(self, seen_after: float) -> list[ClientRecord]:
        return await self._clients.load_clients(seen_after)

    async def load_acks(self, namespace: str) -> list[AckRecord]:
        return await self._clients.load_acks(namespace)

    async def forget_clients(self, seen_before: float) -> None:
        await self._clients.forget_clients(seen_before)

    # -- operations (StorageAdmin) -------------------------------------------------------

    async def backup(self, dest: Path) -> BackupInfo:
        """A consistent snapshot of the database in `dest` (configd.storage.sqlite.backup)."""
        return await backup_database(self.path, dest)

    def disk_bytes(self) -> int:
        return database_size(self.data_dir)

    # -- history ---------------------------------------------------------------------------

    _REVISION_COLUMNS = REVISION_COLUMNS

    async def _change_sets(
        self, revision_rows: Iterable[sqlite3.Row], *, log: bool = False
    ) -> list[ChangeSet]:
        heads = list(revision_rows)
        if not heads:
            return []
        numbers = [row[0] for row in heads]
        placeholders = ",".join("?" * len(numbers))
        changes = await self._fetchall(
            f"SELECT {CHANGE_COLUMNS} FROM changes"
            f" WHERE revision IN ({placeholders}) ORDER BY revision, key",
            numbers,
            log=log,
        )
        # Read after the revisions rows, so every release they name is in (a release row
        # commits with its revision); a start's row may have ended since, which change_sets
        # undoes.
        releases: Iterable[sqlite3.Row] = ()
        if wanted := release_revisions(heads):
            marks = ",".join("?" * len(wanted))
            releases = await self._fetchall(
                f"SELECT {RELEASE_COLUMNS} FROM releases"
                f" WHERE id IN ({marks}) OR end_revision IN ({marks})",
                wanted * 2,
                log=log,
            )
        return await change_sets(heads, changes, self._schema, releases)

    async def history(
        self, namespace: str, key: str | None, before_revision: int, limit: int
    ) -> list[ChangeSet]:
        bound = before_revision if before_revision > 0 else 2**63 - 1
        if key is None:
            rows = await self._fetchall(
                f"SELECT {self._REVISION_COLUMNS} FROM revisions"
                " WHERE namespace = ? AND revision < ? ORDER BY revision DESC LIMIT ?",
                (namespace, bound, limit),
            )
        else:
            rows = await self._fetchall(
                f"SELECT {self._REVISION_COLUMNS} FROM revisions WHERE revision IN"
                " (SELECT revision FROM changes WHERE namespace = ? AND key = ? AND revision < ?"
                f"  UNION {_RELEASE_TOUCHES} ORDER BY revision DESC LIMIT ?)"
                " ORDER BY revision DESC",
                (namespace, key, bound, namespace, key, bound, limit),
            )
        return await self._change_sets(rows)

    async def release(self, namespace: str, release_id: int) -> Release | None:
        rows = list(
            await self._fetchall(
                f"SELECT {RELEASE_COLUMNS} FROM releases WHERE namespace = ?"
                + (" AND id = ?" if release_id else " ORDER BY id DESC LIMIT 1"),
                (namespace, release_id) if release_id else (namespace,),
            )
        )
        return stored_release(rows[0]) if rows else None

    async def revision_of_request(self, request_id: str) -> int | None:
        rows = list(
            await self._fetchall(
                "SELECT revision FROM revisions WHERE request_id = ?", (request_id,)
            )
        )
        return int(rows[0][0]) if rows else None

    async def change_set(self, revision: int) -> ChangeSet | None:
        rows = await self._fetchall(
            f"SELECT {self._REVISION_COLUMNS} FROM revisions WHERE revision = ?", (revision,)
        )
        found = await self._change_sets(rows)
        return found[0] if found else None

    async def changes_since(self, start_revision: int, limit: int) -> list[ChangeSet]:
        rows = await self._fetchall(
            f"SELECT {self._REVISION_COLUMNS} FROM revisions"
            " WHERE revision >= ? ORDER BY revision LIMIT ?",
            (start_revision, limit),
        )
        return await self._change_sets(rows)

    async def namespace_at(self, name: str, revision: int) -> Namespace | None:
        heads = list(
            await self._fetchall(
                f"SELECT {NAMESPACE_HEAD_COLUMNS} FROM revisions"
                " WHERE namespace = ? AND revision <= ? ORDER BY revision DESC LIMIT 1",
                (name, revision),
            )
        )
        if not heads or deleted(heads[0]):
            return None
        # SQLite takes the bare columns from the row holding max(revision) of each key.
        key_rows = await self._fetchall(
            "SELECT key, new_value, new_create_revision, max(revision), new_version FROM changes"
            " WHERE namespace = ? AND revision <= ? AND revision >= ? GROUP BY key",
            (name, revision, heads[0][3]),
        )
        return namespace_at(name, heads[0], key_rows, await self._schema(name, heads[0][2]))

    async def revision_at(self, when: float) -> int:
        rows = list(
            await self._fetchall("SELECT max(revision) FROM revisions WHERE time <= ?", (when,))
        )
        return int(rows[0][0] or 0)

    async def compact(self, revision: int) -> None:
        statements: list[Statement] = [
            # Keep, per key, the newest change at or below the compaction revision (unless
            # it deleted the key), so namespace_at works for every revision >= it.
            (
                "DELETE FROM changes WHERE revision < ? AND (new_value IS NULL OR revision <"
                " (SELECT max(c.revision) FROM changes c WHERE c.namespace = changes.namespace"
                "  AND c.key = changes.key AND c.revision <= ?))",
                [(revision, revision)],
            ),
            # Likewise keep each namespace's newest write at or below it.
            (
                "DELETE FROM revisions WHERE revision < ? AND revision <"
                " (SELECT max(r.revision) FROM revisions r WHERE r.namespace ="
                "  revisions.namespace AND r.revision <= ?)",
                [(revision, revision)],
            ),
            # max(): another process may have compacted further meanwhile.
            (
                "INSERT INTO meta VALUES ('compact_revision', ?) ON CONFLICT (name)"
                " DO UPDATE SET value = max(value, excluded.value)",
                [(revision,)],
            ),
        ]
        applied = self._applied

        def floor_holds() -> None:
            # Under the write lock: a process that registers later loads after this
            # compaction commits, so it needs nothing below the head it then sees.
            floor = applied.floor()
            if floor is not None and revision > floor + 1:
                raise ReplicaBehind.compacting(revision, floor)

        try:
            await self._writer_thread().run(
                lambda db: _transaction(db, statements, guard=floor_holds)
            )
        except sqlite3.Error as exc:
            raise StorageFailure(f"compaction failed ({exc}); history is unchanged") from exc
