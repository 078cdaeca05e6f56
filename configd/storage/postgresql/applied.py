"""How far each process sharing the PostgreSQL store has applied: the compaction floor.

Compaction must never drop history a live process still needs to catch up (DESIGN.md,
"Replicas"). Each serving process keeps one row in `applied` (keyed by a random uuid of its
own): the revision it has applied everything up to and `updated_at`, the server's now() at
its last report (the server's clock for every process, so clocks of replicas never matter).
A row not refreshed for `stale_after` seconds (a stopped or hung process) no longer counts,
so nobody holds compaction back forever; close() removes the row, and a compaction removes
rows long stale. A killed process stops counting sooner: each row names the server session
(pid and start time, from pg_stat_activity) it was last written on, and once that session is
gone the row counts only until CONNECTION_GRACE seconds after its last report -- the grace is
for a live process whose connection was lost, which reports again from a new one within a
heartbeat.

A process registers (revision 0) before it loads its state, and a compaction reads the rows
while it holds the head row's lock, so a starting process is either seen by the compaction or
loads after it commits (and then needs nothing it dropped).
"""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection

from configd.storage.postgresql.options import STALE_AFTER

CONNECTION_GRACE = 5.0
"""Seconds a row whose session is gone still counts (its process may be reconnecting)."""

FORGET_AFTER = 3600.0
"""Seconds after which a compaction deletes a stale row (its process is gone)."""

Connection = AsyncConnection[tuple[object, ...]]


class AppliedRecords:
    """This process's row, and the reading of everyone's."""

    def __init__(self, *, stale_after: float = STALE_AFTER) -> None:
        self.process = uuid.uuid4()
        self._stale_after = stale_after
        self.revision = -1  # what the row says now (-1: no row)
        # What this process has applied as far as it told us (ahead of its row by up to a
        # heartbeat): its own compaction counts this.
        self.applied = 0

    async def register(self, conn: Connection) -> None:
        """Record revision 0 ("I need everything"), before the state is loaded."""
        self.applied = 0
        await self.write(conn, 0)

    async def write(self, conn: Connection, revision: int) -> None:
        await conn.execute(
            "INSERT INTO applied SELECT %s, %s, now(), pid, backend_start"
            " FROM pg_stat_activity WHERE pid = pg_backend_pid()"
            " ON CONFLICT (process) DO UPDATE SET revision = excluded.revision,"
            " updated_at = excluded.updated_at, backend_pid = excluded.backend_pid,"
            " backend_start = excluded.backend_start",
            (self.process, revision),
        )
        self.revision = revision

    async def floor(self, conn: Connection) -> int | None:
        """The lowest revision applied by a live process (this one included), or None if no
        process has a fresh row."""
        row = await (
            await conn.execute(
                "SELECT min(a.revision) FROM applied a WHERE a.process <> %s"
                " AND a.updated_at > now() - make_interval(secs => %s)"
                " AND (a.updated_at > now() - make_interval(secs => %s) OR EXISTS"
                "  (SELECT 1 FROM pg_stat_activity s WHERE s.pid = a.backend_pid"
                "   AND s.backend_start IS NOT DISTINCT FROM a.backend_start))",
                (self.process, self._stale_after, min(CONNECTION_GRACE, self._stale_after)),
            )
        ).fetchone()
        others = None if row is None or row[0] is None else int(row[0])  # type: ignore[call-overload]
        own = self.applied if self.revision >= 0 else None
        candidates = [r for r in (own, others) if r is not None]
        return min(candidates) if candidates else None

    async def forget_stale(self, conn: Connection) -> None:
        await conn.execute(
            "DELETE FROM applied WHERE updated_at < now() - make_interval(secs => %s)",
            (max(FORGET_AFTER, self._stale_after),),
        )

    async def close(self, conn: Connection) -> None:
        """Remove this process's row."""
        if self.revision >= 0:
            await conn.execute("DELETE FROM applied WHERE process = %s", (self.process,))
        self.revision = -1
