"""Client and acknowledgement rows in the configd database (tables `clients`, `acks`).

Its own connection to the same SQLite file, as the token store has (tokens.py): these are
small, frequent reports, and keeping them off the writer's connection means they never
interleave with a group commit or wait in its queue. Each call is one short IMMEDIATE
transaction; the busy timeout covers the rare overlap with a commit on either side, so
neither can starve the other for longer than one transaction. sqlite3 errors become
StorageFailure here.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from configd.core.errors import StorageFailure
from configd.core.releases import AckRecord, ClientRecord
from configd.storage.client_rows import (
    ClientSQL,
    ack_record,
    ack_row,
    client_record,
    client_row,
)

_SQL = ClientSQL("?")


class SQLiteClients:
    """The ClientStore methods of configd.storage.sqlite.store.SQLiteStorage."""

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        # One transaction at a time on this connection (the flush, the heartbeat, the
        # disconnect at stop may overlap).
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Connect (the database is migrated already)."""
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await self._db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error, ValueError):
                await db.close()

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageFailure("the database is closed")
        return self._db

    async def _transaction(
        self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]], doing: str
    ) -> None:
        db = self._connection()
        try:
            async with self._lock:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    for sql, rows in statements:
                        if rows:
                            await db.executemany(sql, rows)
                    await db.execute("COMMIT")
                except BaseException:
                    # A failed COMMIT may have ended the transaction already.
                    with contextlib.suppress(sqlite3.Error, ValueError):
                        await db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StorageFailure(f"{doing} in {self.path} failed: {exc}") from exc

    async def _select(self, sql: str, params: Sequence[Any], doing: str) -> list[sqlite3.Row]:
        try:
            return list(await self._connection().execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise StorageFailure(f"{doing} from {self.path} failed: {exc}") from exc

    async def record_clients(
        self, clients: Sequence[ClientRecord], acks: Sequence[AckRecord]
    ) -> None:
        await self._transaction(
            [
                (_SQL.upsert_client, [client_row(c) for c in clients]),
                (_SQL.merge_ack, [ack_row(a) for a in acks]),
            ],
            "recording clients",
        )

    async def touch_clients(self, replica: str, seen_at: float) -> None:
        await self._transaction([(_SQL.touch, [(seen_at, replica)])], "refreshing clients")

    async def disconnect_replica(self, replica: str, when: float) -> None:
        await self._transaction(
            [(_SQL.disconnect, [(when, replica)])], "marking clients disconnected"
        )

    async def load_clients(self, seen_after: float) -> list[ClientRecord]:
        rows = await self._select(_SQL.load_clients, (seen_after,), "reading clients")
        return [client_record(row) for row in rows]

    async def load_acks(self, namespace: str) -> list[AckRecord]:
        rows = await self._select(_SQL.load_acks, (namespace,), "reading acknowledgements")
        return [ack_record(row) for row in rows]

    async def forget_clients(self, seen_before: float) -> None:
        acks, clients = _SQL.forget
        await self._transaction(
            [(acks, [(seen_before,)]), (clients, [(seen_before,)])], "forgetting clients"
        )
