"""PostgreSQL storage (psycopg 3, asyncio): replicas on several machines share one database.

Revisions stay gap-free and in commit order across replicas: every write transaction locks
the one row of `head` (SELECT ... FOR UPDATE) and holds it to COMMIT, checks that the store is
at the batch's base (StoreAhead, StoreBehind: base.check_base), inserts, moves the counter and
notifies `configd_commits` inside the transaction. Never a sequence: sequence values commit
out of order, and a follower reading "everything after R" would skip a revision still being
committed.

Connections of one open store: the write connection (commits, and the write turn's session
advisory lock, which is session state); the follower's connection (log_since, head, applied
rows); a small pool for history reads, loading, compaction and tokens; and the doorbell's
autocommit LISTEN connection (follow.py). psycopg errors become StorageFailure (or
Unavailable) in this package and nowhere above.

Durability: PostgreSQL acknowledges COMMIT once its WAL is flushed (synchronous_commit=on,
fsync=on); open() refuses a server configured to acknowledge earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import AsyncConnection, IsolationLevel

from configd.core.errors import ReplicaBehind, StorageFailure, Unavailable
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
from configd.storage.postgresql.applied import AppliedRecords
from configd.storage.postgresql.clients import PostgreSQLClients
from configd.storage.postgresql.connect import (
    APPLICATION_NAME,
    check_dsn,
    check_durable,
    close_quietly,
    connect,
    failure,
    mask_dsn,
    translated,
)
from configd.storage.postgresql.follow import COMMITS_CHANNEL, HEAD_SQL, Doorbell
from configd.storage.postgresql.locks import WRITE_TURN_LOCK
from configd.storage.postgresql.migrations import migrate
from configd.storage.postgresql.options import PostgreSQLOptions
from configd.storage.postgresql.tables import load_tables, read_tables
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
    BatchRows,
    SchemaCache,
    batch_rows,
    change_sets,
    deleted,
    namespace_at,
    release_revisions,
)
from configd.storage.sqlite.backup import RestoreError, inspect
from configd.storage.sqlite.tables import write_tables
from configd.storage.transfer import TableStream
from configd.storage.turns import wait_for_turn

log = logging.getLogger("configd.storage")

Connection = AsyncConnection[tuple[Any, ...]]
Row = tuple[Any, ...]
T = TypeVar("T")

LOADED_REQUEST_IDS = 100_000
"""Request ids loaded at start (the newest); older ones are read with revision_of_request."""


_INSERTS = (
    ("revisions", "INSERT INTO revisions VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"),
    ("changes", "INSERT INTO changes VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"),
    ("schemas", "INSERT INTO schemas VALUES (%s, %s, %s, %s)"),
    (
        "kv_upserts",
        "INSERT INTO kv VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (namespace, key) DO UPDATE"
        " SET value = excluded.value, create_revision = excluded.create_revision,"
        " mod_revision = excluded.mod_revision, version = excluded.version",
    ),
    ("kv_removals", "DELETE FROM kv WHERE namespace = %s AND key = %s"),
    (
        "namespace_upserts",
        "INSERT INTO namespaces VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE"
        " SET create_revision = excluded.create_revision,"
        " mod_revision = excluded.mod_revision, schema_version = excluded.schema_version",
    ),
    ("namespace_removals", "DELETE FROM namespaces WHERE name = %s"),
    ("release_inserts", insert_release_sql("%s")),
    ("release_ends", end_release_sql("%s")),
)

# The revisions of a namespace's release starts and aborts whose changes touch a key, below
# a bound (parameters: namespace, key, bound): they write no `changes` rows. Only those
# still in `revisions` (not compacted), so they never take a place of the history's LIMIT.
_RELEASE_TOUCHES = (
    "SELECT v.revision FROM revisions v JOIN releases r ON r.namespace = v.namespace"
    f" AND v.revision IN (r.id, CASE WHEN r.state = {ReleaseState.ABORTED.value}"
    " THEN r.end_revision END)"
    " WHERE r.namespace = %s AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.changes::jsonb)"
    " c WHERE c->>'key' = %s) AND v.revision < %s"
)


class _NotBegun(Exception):
    """The write connection was found lost at BEGIN: nothing was sent."""


async def _rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return await (await conn.execute(sql, params)).fetchall()


class PostgreSQLStorage:
    """Storage in the PostgreSQL database `dsn` (a libpq connection string or URI; several
    hosts allowed), shared by every configd process given the same one.

    A configd.storage.base.Storage, StorageAdmin and ClientStore."""

    def __init__(self, dsn: str, options: PostgreSQLOptions | None = None) -> None:
        self.dsn = dsn
        self.where = mask_dsn(dsn)
        self._options = options or PostgreSQLOptions()
        self._writer: Connection | None = None
        self._log_reader: Connection | None = None
        self._pool: psycopg_pool.AsyncConnectionPool[Connection] | None = None
        self._doorbell: Doorbell | None = None
        self._applied = AppliedRecords(stale_after=self._options.applied_stale_seconds)
        self._applied_written = 0.0
        self._schemas = SchemaCache()
        self._clients = PostgreSQLClients(self.pooled)
        self.noticed = NoticedHead()
        # One user of the write connection at a time (commit, the turn's lock and unlock).
        self._write_lock = asyncio.Lock()
        # One user of the follower's connection at a time: the follower and a writer that
        # found the store ahead both read the log, and a second transaction begun on a
        # connection inside another's would nest in it (psycopg refuses or misorders them).
        self._log_lock = asyncio.Lock()
        self._turn = False
        self._unlocking: asyncio.Task[None] | None = None
        self._closed = True
        self.schema_version = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> StoredState:
        check_dsn(self.dsn)
        self._closed = False
        try:
            self._writer = await self._connect()
            async with translated("opening the database", self.dsn):
                await check_durable(self._writer, self.dsn)
                self.schema_version = await migrate(self._writer, self.where)
            self._log_reader = await self._connect()
            async with translated("registering this process", self.dsn):
                # Before loading: from now on no compaction drops what this process needs.
                await self._applied.register(self._log_reader)
            self._pool = psycopg_pool.AsyncConnectionPool(
                self.dsn,
                min_size=1,
                max_size=max(1, self._options.pool_size),
                kwargs={"autocommit": True, "application_name": APPLICATION_NAME},
                # A connection is checked as it is handed out, so one lost meanwhile (the
                # server restarted) is replaced instead of failing the call: these calls
                # are not hot (history, compaction, tokens), a round trip is cheap.
                check=psycopg_pool.AsyncConnectionPool.check_connection,
                timeout=self._options.connect_timeout,
                open=False,
                name="configd-postgresql",
            )
            try:
                await self._pool.open(wait=True, timeout=self._options.connect_timeout)
            except psycopg_pool.PoolTimeout as exc:
                raise StorageFailure(
                    f"cannot connect to PostgreSQL at {self.where} within "
                    f"{self._options.connect_timeout:g} s; check that the server is running"
                ) from exc
            state = await self._load()
            self.noticed.start(StoreHead(state.revision, state.compact_revision))
            self._doorbell = Doorbell(
                self.dsn,
                self.noticed.noticed,
                self.noticed.tokens_noticed,
                poll_interval=self._options.poll_interval,
                connect_timeout=self._options.connect_timeout,
            )
            self._doorbell.own_revision = state.revision
            self._doorbell.start()
            try:
                async with asyncio.timeout(self._options.connect_timeout):
                    await self._doorbell.connected.wait()
            except TimeoutError:
                raise StorageFailure(
                    f"cannot listen for commits on PostgreSQL at {self.where}; check the "
                    "server's log"
                ) from None
            await self.report_applied(state.revision)
            return state
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self._closed = True
        if self._doorbell is not None:
            await self._doorbell.stop()
            self._doorbell = None
        self.noticed.close()
        if self._log_reader is not None and not self._log_reader.broken:
            with contextlib.suppress(psycopg.Error):
                await self._applied.close(self._log_reader)
        for conn in (self._log_reader, self._writer):
            await close_quietly(conn)
        self._log_reader = self._writer = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with contextlib.suppress(psycopg.Error):
                await pool.close()

    async def _connect(self) -> Connection:
        return await connect(self.dsn, connect_timeout=self._options.connect_timeout)

    async def _fresh(self, conn: Connection | None) -> Connection:
        """`conn`, or a new connection if it was lost (the server restarted, a failover)."""
        if self._closed:
            raise StorageFailure("the database is closed")
        if conn is None or conn.closed or conn.broken:
            await close_quietly(conn)
            conn = await self._connect()
        return conn

    @property
    def maintainer(self) -> bool:
        return self._doorbell is not None and self._doorbell.maintainer

    # -- reading ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _reading(self, *, log: bool = False) -> AsyncIterator[Connection]:
        """A connection in a read transaction (one snapshot): the pool's, or (log=True) the
        follower's own."""
        try:
            if log:
                async with self._log_lock:
                    self._log_reader = conn = await self._fresh(self._log_reader)
                    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
                    async with conn.transaction():
                        yield conn
            else:
                if self._pool is None:
                    raise StorageFailure("the database is closed")
                async with self._pool.connection() as conn:
                    # Reads of several statements (a ChangeSet's rows) see one snapshot.
                    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
                    async with conn.transaction():
                        yield conn
        except psycopg.Error as exc:  # psycopg_pool.PoolTimeout too: the server is away
            raise failure(exc, "reading the store", self.dsn) from exc

    async def _read(self, work: Callable[[Connection], Awaitable[T]], *, log: bool = False) -> T:
        """`work(conn)` in a read transaction (_reading); once more on a new connection if
        the first was found lost (the server restarted, a failover): reads are safe to
        repeat."""
        try:
            async with self._reading(log=log) as conn:
                return await work(conn)
        except Unavailable:
            pass
        async with self._reading(log=log) as conn:
            return await work(conn)

    async def _query(
        self, sql: str, params: Sequence[Any] = (), *, log: bool = False
    ) -> list[tuple[Any, ...]]:
        return await self._read(lambda conn: _rows(conn, sql, params), log=log)

    async def schema(self, namespace: str, version: int) -> SchemaVersion | None:
        return await self._schemas.get(namespace, version, self._read_schema)

    async def _schema(self, namespace: str, version: int) -> SchemaVersion:
        return await self._schemas.require(namespace, version, self._read_schema)

    async def _read_schema(self, namespace: str, version: int) -> list[Row]:
        return await self._query(
            "SELECT revision, schema FROM schemas WHERE namespace = %s AND version = %s",
            (namespace, version),
        )

    async def _load(self) -> StoredState:
        return await self._read(self._load_in)

    async def _load_in(self, conn: Connection) -> StoredState:
        """The current state, read in one snapshot (others may be committing)."""
        return await self._schemas.load_state(
            lambda sql, params: _rows(conn, sql, params), HEAD_SQL, "%s", LOADED_REQUEST_IDS
        )

    # -- writing ---------------------------------------------------------------------------

    async def begin_write_turn(self, within: float) -> None:
        await wait_for_turn(self._try_turn, within, max_delay=0.005)

    async def _try_turn(self) -> bool:
        async with self._write_lock:
            await self._settle_unlock()
            if self._turn:
                return True
            row: tuple[Any, ...] | None = None
            for retried in (False, True):
                self._writer = conn = await self._fresh(self._writer)
                try:
                    row = await (
                        await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", WRITE_TURN_LOCK)
                    ).fetchone()
                    break
                except psycopg.Error as exc:
                    if not conn.broken or retried:
                        raise failure(exc, "taking the write turn", self.dsn) from exc
                    # Found lost (the server restarted): once more on a new connection.
            self._turn = row is not None and bool(row[0])
            return self._turn

    def end_write_turn(self) -> None:
        if not self._turn:
            return
        self._turn = False
        # Sync by contract: the unlock runs as a task, awaited before the connection's next use.
        self._unlocking = asyncio.get_running_loop().create_task(self._unlock())

    async def _unlock(self) -> None:
        async with self._write_lock:
            conn = self._writer
            if conn is None or conn.closed or conn.broken:
                return  # the lock went with the connection
            try:
                await conn.execute("SELECT pg_advisory_unlock(%s, %s)", WRITE_TURN_LOCK)
            except psycopg.Error as exc:
                log.warning("giving up the write turn failed (%s); reconnecting", exc)
                await close_quietly(conn)

    async def _settle_unlock(self) -> None:
        task, self._unlocking = self._unlocking, None
        if task is not None and not task.done():
            # Called under _write_lock, which the task needs: it has not run yet, so run its
            # work here instead.
            task.cancel()
            conn = self._writer
            if conn is not None and not conn.closed and not conn.broken:
                try:
                    await conn.execute("SELECT pg_advisory_unlock(%s, %s)", WRITE_TURN_LOCK)
                except psycopg.Error:
                    await close_quietly(conn)

    async def commit(self, batch: Sequence[ChangeSet]) -> None:
        if not batch:
            return
        rows = batch_rows(batch)
        base, last = batch[0].revision - 1, batch[-1].revision
        async with self._write_lock:
            await self._settle_unlock()
            self._writer = conn = await self._fresh(self._writer)
            try:
                await self._commit_on(conn, rows, base, last)
            except _NotBegun:
                # The connection was found lost before anything was sent (the server
                # restarted since the last commit): once more on a new one.
                self._writer = conn = await self._fresh(conn)
                await self._commit_on(conn, rows, base, last, retried=True)
        self._applied.applied = last  # planned on the head: its own compactions may count it
        if self._doorbell is not None:
            self._doorbell.own_revision = last
        self._schemas.committed(batch)

    async def _commit_on(
        self, conn: Connection, rows: BatchRows, base: int, last: int, *, retried: bool = False
    ) -> None:
        try:
            # READ COMMITTED whatever the server's default: waiting for the head row's lock,
            # the transaction must then read the row as the previous commit left it.
            await conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        except psycopg.OperationalError as exc:
            if conn.broken and not retried:
                raise _NotBegun from exc
            raise failure(exc, "storing the write (nothing was committed)", self.dsn) from exc
        committing = False
        try:
            row = await (await conn.execute("SELECT revision FROM head FOR UPDATE")).fetchone()
            assert row is not None
            check_base(int(row[0]), base)
            # The rest in one round trip (a pipeline): the head row's lock, which serialises
            # every replica's commits, is held for one trip to the server, not one per
            # statement. An error stops the pipeline before its COMMIT; a lost connection
            # leaves the outcome unknown, as a lost COMMIT does.
            committing = True
            async with conn.pipeline(), conn.cursor() as cursor:
                for field, sql in _INSERTS:
                    values = getattr(rows, field)
                    if values:
                        await cursor.executemany(sql, values)
                await cursor.execute("UPDATE head SET revision = %s", (last,))
                # Delivered to listeners only once the transaction commits.
                await cursor.execute("SELECT pg_notify(%s, %s)", (COMMITS_CHANNEL, str(last)))
                await cursor.execute("COMMIT")
        except psycopg.Error as exc:
            if committing and conn.broken:
                raise Unavailable(
                    f"the connection to PostgreSQL at {self.where} was lost during COMMIT, "
                    "so whether the write was stored is unknown; retry it (a retry with the "
                    "same request id is not applied twice)"
                ) from exc
            await self._rollback(conn)
            raise failure(exc, "storing the write (nothing was committed)", self.dsn) from exc
        except BaseException:
            await self._rollback(conn)
            raise

    @staticmethod
    async def _rollback(conn: Connection) -> None:
        if conn.broken or conn.closed:
            return  # the server rolls back a transaction whose connection is gone
        try:
            await conn.execute("ROLLBACK")
        except psycopg.Error:
            await close_quietly(conn)

    # -- following other processes ---------------------------------------------------------

    @property
    def options(self) -> PostgreSQLOptions:
        return self._options

    @contextlib.asynccontextmanager
    async def pooled(self, doing: str) -> AsyncIterator[Connection]:
        """A pool connection (autocommit; its transactions READ COMMITTED, as a write that
        waits for the head row's lock must then see the row's new version) for `doing`;
        psycopg errors become StorageFailure or Unavailable (connect.failure)."""
        if self._pool is None:
            raise StorageFailure("the database is closed")
        try:
            async with self._pool.connection() as conn:
                await conn.set_isolation_level(IsolationLevel.READ_COMMITTED)
                yield conn
        except psycopg.Error as exc:  # psycopg_pool.PoolTimeout too: the server is away
            raise failure(exc, doing, self.dsn) from exc

    async def head(self) -> StoreHead:
        row = (await self._query(HEAD_SQL, log=True))[0]
        head = StoreHead(int(row[0]), int(row[1]))
        self.noticed.noticed(head)
        return head

    async def next_head(self, known: StoreHead, within: float) -> StoreHead:
        if not self.noticed.started or self._closed:
            raise StorageFailure("the database is closed")
        return await self.noticed.next_head(known, within)

    @property
    def noticed_head(self) -> StoreHead:
        return self.noticed.head

    async def log_since(self, after: int, limit: int) -> list[ChangeSet]:
        return await self._select_change_sets(
            "WHERE revision > %s ORDER BY revision LIMIT %s", (after, limit), log=True
        )

    async def report_applied(self, revision: int) -> None:
        # Rewritten when it changed, and once a second as a heartbeat.
        self._applied.applied = revision
        now = asyncio.get_running_loop().time()
        if revision != self._applied.revision or now - self._applied_written >= 1.0:
            async with self._log_lock:
                self._log_reader = conn = await self._fresh(self._log_reader)
                async with translated("recording the applied revision", self.dsn):
                    await self._applied.write(conn, revision)
            self._applied_written = now

    async def applied_floor(self) -> int | None:
        async with self.pooled("reading the applied revisions") as conn:
            return await self._applied.floor(conn)

    # -- operations (StorageAdmin) -------------------------------------------------------

    async def backup(self, dest: Path) -> BackupInfo:
        """One snapshot of every table, written as a SQLite backup file: the one format
        `configd restore` takes (and `configd migrate` can move to PostgreSQL again)."""
        partial = dest.with_name(dest.name + ".partial")
        await asyncio.to_thread(partial.unlink, missing_ok=True)
        async with self.pooled("backing up the database") as conn:
            await write_tables(partial, read_tables(conn, self.dsn))
        await asyncio.to_thread(partial.replace, dest)
        try:
            return await asyncio.to_thread(inspect, dest, full_check=False)
        except RestoreError as exc:
            raise StorageFailure(f"the backup copy is unusable: {exc}") from exc

    async def load_tables(self, tables: TableStream) -> None:
        """Fill this empty store with `tables` (configd migrate); StorageFailure, storing
        nothing, if it holds configd data. Open processes on the store must reload after."""
        async with self._write_lock:
            self._writer = conn = await self._fresh(self._writer)
            await load_tables(conn, tables, self.dsn)

    def disk_bytes(self) -> int:
        """pg_database_size of the database, as the doorbell last read it (once a second)."""
        return self._doorbell.database_bytes if self._doorbell is not None else 0

    # -- history ---------------------------------------------------------------------------

    async def _select_change_sets(
        self, where: str, params: Sequence[Any], *, log: bool = False
    ) -> list[ChangeSet]:
        async def read(conn: Connection) -> tuple[list[Row], list[Row], list[Row]]:
            heads = await _rows(conn, f"SELECT {REVISION_COLUMNS} FROM revisions {where}", params)
            if not heads:
                return [], [], []
            changes = await _rows(
                conn,
                f"SELECT {CHANGE_COLUMNS} FROM changes WHERE revision = ANY(%s)"
                " ORDER BY revision, key",
                ([row[0] for row in heads],),
            )
            releases: list[Row] = []
            if wanted := release_revisions(heads):
                releases = await _rows(
                    conn,
                    f"SELECT {RELEASE_COLUMNS} FROM releases"
                    " WHERE id = ANY(%s) OR end_revision = ANY(%s)",
                    (wanted, wanted),
                )
            return heads, changes, releases

        heads, changes, releases = await self._read(read, log=log)
        return await change_sets(heads, changes, self._schema, releases)

    async def history(
        self, namespace: str, key: str | None, before_revision: int, limit: int
    ) -> list[ChangeSet]:
        bound = before_revision if before_revision > 0 else 2**63 - 1
        if key is None:
            return await self._select_change_sets(
                "WHERE namespace = %s AND revision < %s ORDER BY revision DESC LIMIT %s",
                (namespace, bound, limit),
            )
        return await self._select_change_sets(
            "WHERE revision IN (SELECT revision FROM changes WHERE namespace = %s AND key = %s"
            f" AND revision < %s UNION {_RELEASE_TOUCHES} ORDER BY revision DESC LIMIT %s)"
            " ORDER BY revision DESC",
            (namespace, key, bound, namespace, key, bound, limit),
        )

    async def release(self, namespace: str, release_id: int) -> Release | None:
        if release_id:
            rows = await self._query(
                f"SELECT {RELEASE_COLUMNS} FROM releases WHERE namespace = %s AND id = %s",
                (namespace, release_id),
            )
        else:
            rows = await self._query(
                f"SELECT {RELEASE_COLUMNS} FROM releases WHERE namespace = %s"
                " ORDER BY id DESC LIMIT 1",
                (namespace,),
            )
        return stored_release(rows[0]) if rows else None

    # -- clients (ClientStore, on the pool: postgresql/clients.py) -------------------------

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

    async def revision_of_request(self, request_id: str) -> int | None:
        rows = await self._query(
            "SELECT revision FROM revisions WHERE request_id = %s", (request_id,)
        )
        return int(rows[0][0]) if rows else None

    async def change_set(self, revision: int) -> ChangeSet | None:
        found = await self._select_change_sets("WHERE revision = %s", (revision,))
        return found[0] if found else None

    async def changes_since(self, start_revision: int, limit: int) -> list[ChangeSet]:
        return await self._select_change_sets(
            "WHERE revision >= %s ORDER BY revision LIMIT %s", (start_revision, limit)
        )

    async def namespace_at(self, name: str, revision: int) -> Namespace | None:
        async def read(conn: Connection) -> tuple[list[Row], list[Row]]:
            heads = await _rows(
                conn,
                f"SELECT {NAMESPACE_HEAD_COLUMNS} FROM revisions"
                " WHERE namespace = %s AND revision <= %s ORDER BY revision DESC LIMIT 1",
                (name, revision),
            )
            if not heads or deleted(heads[0]):
                return [], []
            # Each key's newest change at or below `revision` since the namespace's creation.
            key_rows = await _rows(
                conn,
                "SELECT DISTINCT ON (key) key, new_value, new_create_revision, revision,"
                " new_version FROM changes WHERE namespace = %s AND revision <= %s"
                " AND revision >= %s ORDER BY key, revision DESC",
                (name, revision, heads[0][3]),
            )
            return heads, key_rows

        heads, key_rows = await self._read(read)
        if not heads:
            return None
        return namespace_at(name, heads[0], key_rows, await self._schema(name, heads[0][2]))

    async def revision_at(self, when: float) -> int:
        rows = await self._query("SELECT max(revision) FROM revisions WHERE time <= %s", (when,))
        return int(rows[0][0] or 0)

    async def compact(self, revision: int) -> None:
        async with self.pooled("compaction (history is unchanged)") as conn, conn.transaction():
            # The store's write lock: no commit runs meanwhile, and a process registering
            # later loads after this commits (applied.py).
            await conn.execute("SELECT revision FROM head FOR UPDATE")
            floor = await self._applied.floor(conn)
            if floor is not None and revision > floor + 1:
                raise ReplicaBehind.compacting(revision, floor)
            # Keep, per key, the newest change at or below the compaction revision (unless it
            # deleted the key), so namespace_at works for every revision >= it.
            await conn.execute(
                "DELETE FROM changes c WHERE c.revision < %(r)s AND (c.new_value IS NULL OR"
                " c.revision < (SELECT max(d.revision) FROM changes d WHERE d.namespace ="
                " c.namespace AND d.key = c.key AND d.revision <= %(r)s))",
                {"r": revision},
            )
            # Likewise keep each namespace's newest write at or below it.
            await conn.execute(
                "DELETE FROM revisions v WHERE v.revision < %(r)s AND v.revision <"
                " (SELECT max(w.revision) FROM revisions w WHERE w.namespace = v.namespace"
                " AND w.revision <= %(r)s)",
                {"r": revision},
            )
            # greatest(): another process may have compacted further meanwhile.
            await conn.execute(
                "UPDATE head SET compact_revision = greatest(compact_revision, %s)", (revision,)
            )
            await self._applied.forget_stale(conn)
            await conn.execute("SELECT pg_notify(%s, %s)", (COMMITS_CHANNEL, "compact"))
