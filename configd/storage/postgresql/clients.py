"""Client and acknowledgement rows in the PostgreSQL store (tables `clients`, `acks`).

On the store's pool, never on the write connection, and without the head row's lock: these
reports never wait for a commit nor make one wait (they touch only their own rows). psycopg
errors become StorageFailure or Unavailable through PostgreSQLStorage.pooled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from psycopg import AsyncConnection

from configd.core.releases import AckRecord, ClientRecord
from configd.storage.client_rows import (
    ClientSQL,
    ack_record,
    ack_row,
    client_record,
    client_row,
)

Connection = AsyncConnection[tuple[Any, ...]]
Pooled = Callable[[str], AbstractAsyncContextManager[Connection]]

_SQL = ClientSQL("%s")


class PostgreSQLClients:
    """The ClientStore methods of configd.storage.postgresql.store.PostgreSQLStorage, on
    connections from `pooled(doing)`."""

    def __init__(self, pooled: Pooled) -> None:
        self._pooled = pooled

    async def _transaction(
        self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]], doing: str
    ) -> None:
        async with self._pooled(doing) as conn, conn.transaction(), conn.cursor() as cursor:
            for sql, rows in statements:
                if rows:
                    await cursor.executemany(sql, rows)

    async def _select(self, sql: str, params: Sequence[Any], doing: str) -> list[tuple[Any, ...]]:
        async with self._pooled(doing) as conn:
            return await (await conn.execute(sql, params)).fetchall()

    async def record_clients(
        self, clients: Sequence[ClientRecord], acks: Sequence[AckRecord]
    ) -> None:
        # Sorted: two replicas recording the same clients lock their rows in one order,
        # so they cannot deadlock.
        await self._transaction(
            [
                (_SQL.upsert_client, sorted(client_row(c) for c in clients)),
                (_SQL.merge_ack, sorted(ack_row(a) for a in acks)),
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
