"""Bearer-token rows in the PostgreSQL database (tables `tokens` and `token_head`).

Each write is one transaction that locks the one row of `token_head` FOR UPDATE (held to
COMMIT), takes generation + 1 for the row it writes, moves the counter and notifies
`configd_tokens` inside the transaction: generations commit in order, never a sequence. The
storage's doorbell (follow.py) reads the generation on every notification and poll and tells
wait_change(). Writes use the storage's pool; psycopg errors become StorageFailure here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from configd.core.errors import AlreadyExists, StorageFailure
from configd.storage.base import StoredToken, TokenChanges
from configd.storage.noticed import NoticedGeneration
from configd.storage.postgresql.follow import TOKENS_CHANNEL
from configd.storage.postgresql.store import Connection, PostgreSQLStorage
from configd.storage.rows import TOKEN_COLUMNS, stored_token, token_changes, token_row

_INSERT = (
    f"INSERT INTO tokens ({TOKEN_COLUMNS}, generation) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


class PostgreSQLTokenStore:
    """A configd.storage.base.TokenStore: tokens in the database of `storage`; open after it
    (its doorbell tells this store of generations)."""

    def __init__(self, storage: PostgreSQLStorage) -> None:
        self._storage = storage
        self._noticed = NoticedGeneration()  # as the storage's doorbell reports it

    async def open(self) -> TokenChanges:
        async with self._storage.pooled("reading tokens") as conn, conn.transaction():
            rows = await (
                await conn.execute(f"SELECT {TOKEN_COLUMNS}, generation FROM tokens ORDER BY name")
            ).fetchall()
            head = await (await conn.execute("SELECT generation FROM token_head")).fetchone()
        loaded = token_changes(rows, int(head[0]) if head is not None else 0)
        self._noticed.follow(self._storage.noticed, loaded.generation)
        return loaded

    async def close(self) -> None:
        self._noticed.close()

    async def changes_since(self, generation: int) -> TokenChanges:
        async with self._storage.pooled("reading tokens") as conn:
            rows = await (
                await conn.execute(
                    f"SELECT {TOKEN_COLUMNS}, generation FROM tokens WHERE generation > %s"
                    " ORDER BY generation",
                    (generation,),
                )
            ).fetchall()
        return token_changes(rows, generation)

    async def wait_change(self, known: int, within: float) -> None:
        await self._noticed.wait_change(known, within)

    async def _write(self, what: str, write: Callable[[Connection, int], Any]) -> Any:
        """Run `write(conn, next_generation)` in one transaction holding token_head's row
        lock; the counter moves (and peers are told) if it returns a truthy value."""
        async with self._storage.pooled(f"storing token {what}") as conn, conn.transaction():
            row = await (
                await conn.execute("SELECT generation FROM token_head FOR UPDATE")
            ).fetchone()
            assert row is not None  # migration 1 inserts it
            generation = int(row[0]) + 1
            result = await write(conn, generation)
            if result:
                await conn.execute("UPDATE token_head SET generation = %s", (generation,))
                await conn.execute("SELECT pg_notify(%s, %s)", (TOKENS_CHANNEL, str(generation)))
            return result

    async def insert(self, token: StoredToken) -> None:
        async def write(conn: Connection, generation: int) -> bool:
            await conn.execute(_INSERT, (*token_row(token), generation))
            return True

        try:
            await self._write(repr(token.name), write)
        except StorageFailure as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise AlreadyExists(
                    f"a token named {token.name!r} exists or existed (names are never reused, "
                    "so the audit history stays unambiguous); choose another name"
                ) from None
            raise

    async def insert_first(self, token: StoredToken) -> bool:
        # Under token_head's lock: of several processes starting on a fresh database exactly
        # one finds the table empty.
        async def write(conn: Connection, generation: int) -> bool:
            if await (await conn.execute("SELECT 1 FROM tokens LIMIT 1")).fetchone():
                return False
            await conn.execute(_INSERT, (*token_row(token), generation))
            return True

        return bool(await self._write(repr(token.name), write))

    async def replace(self, token: StoredToken) -> None:
        async def write(conn: Connection, generation: int) -> bool:
            await conn.execute("DELETE FROM tokens WHERE name = %s", (token.name,))
            await conn.execute(_INSERT, (*token_row(token), generation))
            return True

        await self._write(repr(token.name), write)

    async def revoke(self, name: str, when: float) -> StoredToken | None:
        async def write(conn: Connection, generation: int) -> bool:
            cursor = await conn.execute(
                "UPDATE tokens SET revoked_at = %s, generation = %s"
                " WHERE name = %s AND revoked_at IS NULL",
                (when, generation, name),
            )
            return cursor.rowcount > 0

        await self._write(repr(name), write)
        async with self._storage.pooled(f"revoking token {name!r}") as conn:
            row = await (
                await conn.execute(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE name = %s", (name,))
            ).fetchone()
        return stored_token(row) if row is not None else None
