"""Bearer-token rows in the configd database (table `tokens`, migration 2).

Its own connection to the same SQLite file: token changes are rare, and keeping them off the
writer's connection means they never interleave with a group commit (WAL allows one writer at
a time; the busy timeout covers the rare overlap). sqlite3 errors become StorageFailure here.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from configd.core.errors import AlreadyExists, StorageFailure
from configd.storage.base import StoredToken
from configd.storage.sqlite.files import DB_FILE

_COLUMNS = "name, hash, grants, created_at, expires_at, revoked_at, created_by"


def _row(token: StoredToken) -> tuple[object, ...]:
    return (
        token.name,
        token.hash,
        json.dumps([list(g) for g in token.grants]),
        token.created_at,
        token.expires_at,
        token.revoked_at,
        token.created_by,
    )


def _token(row: Sequence[object]) -> StoredToken:
    name, digest, grants, created_at, expires_at, revoked_at, created_by = row
    return StoredToken(
        str(name),
        bytes(digest),  # type: ignore[call-overload]
        tuple((str(p), int(r)) for p, r in json.loads(str(grants))),
        float(created_at),  # type: ignore[arg-type]
        None if expires_at is None else float(expires_at),  # type: ignore[arg-type]
        None if revoked_at is None else float(revoked_at),  # type: ignore[arg-type]
        str(created_by),
    )


class SQLiteTokenStore:
    """A configd.storage.base.TokenStore: tokens in `<data_dir>/configd.db`; open after
    SQLiteStorage (which migrates it)."""

    def __init__(self, data_dir: Path, busy_timeout_ms: int = 5_000) -> None:
        self.path = data_dir / DB_FILE
        self._busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> list[StoredToken]:
        """Connect and return every stored token."""
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            cursor = await self._db.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY name")
            return [_token(row) for row in await cursor.fetchall()]
        except sqlite3.Error as exc:
            await self.close()
            raise StorageFailure(f"cannot read tokens from {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error, ValueError):
                await db.close()

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageFailure("the token store is closed")
        return self._db

    async def insert(self, token: StoredToken) -> None:
        """Store a new token; AlreadyExists if its name was ever used."""
        try:
            await self._connection().execute(
                f"INSERT INTO tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", _row(token)
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(
                f"a token named {token.name!r} exists or existed (names are never reused, so "
                "the audit history stays unambiguous); choose another name"
            ) from None
        except sqlite3.Error as exc:
            raise StorageFailure(f"cannot store token {token.name!r}: {exc}") from exc

    async def replace(self, token: StoredToken) -> None:
        """Store `token`, replacing any token of the same name (bootstrap only)."""
        try:
            await self._connection().execute(
                f"INSERT OR REPLACE INTO tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                _row(token),
            )
        except sqlite3.Error as exc:
            raise StorageFailure(f"cannot store token {token.name!r}: {exc}") from exc

    async def revoke(self, name: str, when: float) -> None:
        try:
            await self._connection().execute(
                "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (when, name),
            )
        except sqlite3.Error as exc:
            raise StorageFailure(f"cannot revoke token {name!r}: {exc}") from exc
