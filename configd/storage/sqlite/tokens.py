"""Bearer-token rows in the configd database (table `tokens`, migrations 2 and 3).

Its own connection to the same SQLite file: token changes are rare, and keeping them off the
writer's connection means they never interleave with a group commit (WAL allows one writer at
a time; the busy timeout covers the rare overlap). sqlite3 errors become StorageFailure here.

Shared by every process serving the file. Each write is one statement that also sets the row's
`generation` to the highest stored + 1; a single writing statement holds SQLite's write lock
from its first read to its commit, so generations commit in order. The storage's doorbell
thread reads the highest generation on every commit it notices (follow.py) and tells
wait_change(); a write here rings the peers' doorbells, so they look at once.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence

import aiosqlite

from configd.core.errors import AlreadyExists, StorageFailure
from configd.storage.base import StoredToken, TokenChanges
from configd.storage.noticed import NoticedGeneration
from configd.storage.rows import TOKEN_COLUMNS, stored_token, token_changes, token_row
from configd.storage.sqlite.store import SQLiteStorage

_COLUMNS = TOKEN_COLUMNS
_NEXT = "(SELECT coalesce(max(generation), 0) + 1 FROM tokens)"  # under the write lock
_VALUES = f"?, ?, ?, ?, ?, ?, ?, {_NEXT}"


class SQLiteTokenStore:
    """A configd.storage.base.TokenStore: tokens in the database of `storage`; open after it
    (its open() migrates the file and starts the doorbell thread this store listens to)."""

    def __init__(self, storage: SQLiteStorage) -> None:
        self._storage = storage
        self.path = storage.path
        self._db: aiosqlite.Connection | None = None
        self._noticed = NoticedGeneration()  # as the doorbell thread reports it

    async def open(self) -> TokenChanges:
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._db.execute(f"PRAGMA busy_timeout = {int(self._storage.busy_timeout_ms)}")
            cursor = await self._db.execute(
                f"SELECT {_COLUMNS}, generation FROM tokens ORDER BY name"
            )
            loaded = token_changes(list(await cursor.fetchall()), 0)
        except sqlite3.Error as exc:
            await self.close()
            raise StorageFailure(f"cannot read tokens from {self.path}: {exc}") from exc
        self._noticed.follow(self._storage.noticed, loaded.generation)
        return loaded

    async def close(self) -> None:
        self._noticed.close()
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error, ValueError):
                await db.close()

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageFailure("the token store is closed")
        return self._db

    async def changes_since(self, generation: int) -> TokenChanges:
        try:
            rows = await self._connection().execute_fetchall(
                f"SELECT {_COLUMNS}, generation FROM tokens WHERE generation > ?"
                " ORDER BY generation",
                (generation,),
            )
        except sqlite3.Error as exc:
            raise StorageFailure(f"cannot read tokens from {self.path}: {exc}") from exc
        return token_changes(list(rows), generation)

    async def wait_change(self, known: int, within: float) -> None:
        await self._noticed.wait_change(known, within)

    async def _write(self, sql: str, params: Sequence[object], what: str) -> int:
        """Run one writing statement; the number of rows it changed. Rings the peers."""
        try:
            cursor = await self._connection().execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StorageFailure(f"cannot store token {what}: {exc}") from exc
        changed = cursor.rowcount
        if changed:
            self._storage.ring()
        return changed

    async def insert(self, token: StoredToken) -> None:
        try:
            await self._write(
                f"INSERT INTO tokens ({_COLUMNS}, generation) VALUES ({_VALUES})",
                token_row(token),
                repr(token.name),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(
                f"a token named {token.name!r} exists or existed (names are never reused, so "
                "the audit history stays unambiguous); choose another name"
            ) from None

    async def insert_first(self, token: StoredToken) -> bool:
        # One statement: the check and the insert happen under one write lock, so of several
        # processes starting on a fresh directory exactly one stores its token.
        try:
            stored = await self._write(
                f"INSERT INTO tokens ({_COLUMNS}, generation) SELECT {_VALUES}"
                " WHERE NOT EXISTS (SELECT 1 FROM tokens)",
                token_row(token),
                repr(token.name),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageFailure(f"cannot store token {token.name!r}: {exc}") from exc
        return stored == 1

    async def replace(self, token: StoredToken) -> None:
        try:
            await self._write(
                f"INSERT OR REPLACE INTO tokens ({_COLUMNS}, generation) VALUES ({_VALUES})",
                token_row(token),
                repr(token.name),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageFailure(f"cannot store token {token.name!r}: {exc}") from exc

    async def revoke(self, name: str, when: float) -> StoredToken | None:
        try:
            await self._write(
                f"UPDATE tokens SET revoked_at = ?, generation = {_NEXT}"
                " WHERE name = ? AND revoked_at IS NULL",
                (when, name),
                repr(name),
            )
            rows = list(
                await self._connection().execute_fetchall(
                    f"SELECT {_COLUMNS} FROM tokens WHERE name = ?", (name,)
                )
            )
        except sqlite3.Error as exc:
            raise StorageFailure(f"cannot revoke token {name!r}: {exc}") from exc
        return stored_token(rows[0]) if rows else None
