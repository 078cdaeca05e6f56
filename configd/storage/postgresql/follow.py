"""Noticing what other processes commit to the shared PostgreSQL database: the doorbell.

One task with one autocommit connection of its own: LISTEN first (configd_commits, which
every write transaction notifies inside the transaction, so the notification arrives only
once it committed; configd_tokens likewise), *then* read the head row, then wait for a
notification or the poll interval, read the head again, and so on. The head row is the truth;
a notification is only a doorbell that cuts the wait short. Listening before reading means no
commit falls between the read and the LISTEN; after a lost connection the task reconnects with
backoff and starts over (LISTEN, then read), so lost notifications cost latency, never data.

The same connection holds the maintenance lock (locks.MAINTENANCE_LOCK): it is retried every
REFRESH_INTERVAL while another process holds it, and after every reconnect, as it went with the
lost connection. It also refreshes the database size (StorageAdmin.disk_bytes is sync).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg

from configd.storage.base import StoreHead
from configd.storage.noticed import is_news
from configd.storage.postgresql.connect import close_quietly, connect, mask_dsn
from configd.storage.postgresql.locks import MAINTENANCE_LOCK

log = logging.getLogger("configd.storage")

COMMITS_CHANNEL = "configd_commits"
TOKENS_CHANNEL = "configd_tokens"

REFRESH_INTERVAL = 1.0
"""Seconds between retries of the maintenance lock and reads of the database size."""

HEAD_SQL = "SELECT h.revision, h.compact_revision, t.generation FROM head h CROSS JOIN token_head t"

MAX_BACKOFF = 2.0


class Doorbell:
    """The doorbell task of one open PostgreSQLStorage."""

    def __init__(
        self,
        dsn: str,
        on_head: Callable[[StoreHead], None],
        on_tokens: Callable[[int], None],
        *,
        poll_interval: float,
        connect_timeout: float,
    ) -> None:
        self._dsn = dsn
        self._on_head = on_head
        self._on_tokens = on_tokens
        self._poll = poll_interval
        self._connect_timeout = connect_timeout
        self._task: asyncio.Task[None] | None = None
        # The highest revision this process committed (set by the storage after COMMIT):
        # its own commits are not news to its follower.
        self.own_revision = 0
        self.maintainer = False
        self.database_bytes = 0
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="configd-postgresql-doorbell"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        while True:
            conn = None
            try:
                conn = await connect(self._dsn, connect_timeout=self._connect_timeout)
                await conn.execute(f"LISTEN {COMMITS_CHANNEL}")
                await conn.execute(f"LISTEN {TOKENS_CHANNEL}")
                if failures:
                    log.info("the PostgreSQL doorbell is connected again")
                failures = 0
                await self._follow(conn)
            except asyncio.CancelledError:
                await close_quietly(conn)
                raise
            except Exception as exc:  # the doorbell must outlive any one failure
                self.connected.clear()
                if self.maintainer:
                    log.warning("lost the maintenance lock with the doorbell's connection")
                self.maintainer = False
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.error(
                        "following the PostgreSQL store %s failed (%d times): %s",
                        mask_dsn(self._dsn),
                        failures,
                        str(exc).strip().split("\n", 1)[0],
                    )
                await close_quietly(conn)
                await asyncio.sleep(min(MAX_BACKOFF, 0.05 * 2 ** min(failures, 6)))

    async def _follow(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        loop = asyncio.get_running_loop()
        last_head: StoreHead | None = None
        last_tokens: int | None = None
        next_refresh = 0.0
        while True:
            row = await (await conn.execute(HEAD_SQL)).fetchone()
            assert row is not None  # migration 1 inserts the rows
            head = StoreHead(int(row[0]), int(row[1]))  # type: ignore[call-overload]
            tokens = int(row[2])  # type: ignore[call-overload]
            if head != last_head:
                if is_news(head, last_head, self.own_revision):
                    self._on_head(head)
                last_head = head
            if tokens != last_tokens:
                last_tokens = tokens
                self._on_tokens(tokens)
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + REFRESH_INTERVAL
                await self._refresh(conn)
                self.connected.set()  # listening, head read, maintenance lock tried
            # A notification of another process's commit, a token change, or none within the
            # poll interval means: read the head again. This process's own commits (the
            # payload is the revision, at most own_revision) need no read: it applied them.
            await self._next_news(conn)

    async def _next_news(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        """Return at a notification of news (not this process's own commit), or once the
        poll interval has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._poll
        while (left := deadline - loop.time()) > 0:
            notices = [n async for n in conn.notifies(timeout=left, stop_after=1)]
            if not notices or any(
                n.channel != COMMITS_CHANNEL or not _own(n.payload, self.own_revision)
                for n in notices
            ):
                return

    async def _refresh(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        if not self.maintainer:
            row = await (
                await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", MAINTENANCE_LOCK)
            ).fetchone()
            if row is not None and row[0]:
                self.maintainer = True
                log.info("this process now holds the maintenance lock (compaction)")
        row = await (await conn.execute("SELECT pg_database_size(current_database())")).fetchone()
        if row is not None:
            self.database_bytes = int(row[0])  # type: ignore[call-overload]


def _own(payload: str, own_revision: int) -> bool:
    """Whether a commit notification is of a revision this process committed itself."""
    try:
        return int(payload) <= own_revision
    except ValueError:
        return False
