"""A PostgreSQL store's tables as rows, out and in (configd.storage.transfer).

In: `configd migrate` loads a SQLite store's rows into an empty database, in one transaction
that also holds the head row, so no replica writes meanwhile and the counters (`head`,
`token_head`) end at what the rows say. Out: a backup reads every table in one REPEATABLE READ
transaction (one snapshot while writes go on) and writes them into a SQLite backup file, the
one format `configd restore` takes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
from psycopg import sql

from configd.core.errors import StorageFailure
from configd.storage.postgresql.connect import translated
from configd.storage.transfer import CHUNK_ROWS, TABLES, TableRows, TableStream

Connection = psycopg.AsyncConnection[tuple[object, ...]]


async def load_tables(conn: Connection, tables: AsyncIterator[TableRows], dsn: str) -> None:
    """Fill the empty store on `conn` (autocommit, migrated) with `tables`; StorageFailure,
    storing nothing, if it holds any configd data."""
    async with translated("copying into the database", dsn), conn.transaction():
        row = await (await conn.execute("SELECT revision FROM head FOR UPDATE")).fetchone()
        revision = int(row[0]) if row is not None else 0  # type: ignore[call-overload]
        held = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM revisions) + (SELECT count(*) FROM tokens)"
                " + (SELECT count(*) FROM namespaces)"
            )
        ).fetchone()
        if revision or (held is not None and int(held[0])):  # type: ignore[call-overload]
            raise StorageFailure(
                f"the target database already holds configd data (revision {revision}); "
                "migrate into an empty database"
            )
        async with conn.cursor() as cursor:
            async for chunk in tables:
                statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(chunk.table),
                    sql.SQL(", ").join(map(sql.Identifier, chunk.columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(chunk.columns)),
                )
                await cursor.executemany(statement, chunk.rows)
            await cursor.execute(
                "UPDATE head SET revision = (SELECT coalesce(max(revision), 0) FROM"
                " revisions), compact_revision = coalesce((SELECT value FROM meta WHERE"
                " name = 'compact_revision'), 0)"
            )
            await cursor.execute(
                "UPDATE token_head SET generation ="
                " (SELECT coalesce(max(generation), 0) FROM tokens)"
            )


async def read_tables(conn: Connection, dsn: str) -> TableStream:
    """Every table of the store on `conn`, in chunks, from one snapshot."""
    async with translated("reading the database for a backup", dsn), conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for table in TABLES:
            async with conn.cursor(name=f"configd_copy_{table}") as cursor:
                await cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                columns = tuple(d.name for d in cursor.description or ())
                while rows := await cursor.fetchmany(CHUNK_ROWS):
                    yield TableRows(table, columns, [_plain(r) for r in rows])


def _plain(row: tuple[object, ...]) -> tuple[object, ...]:
    # bytea arrives as bytes already; memoryview only from some adapters: SQLite wants bytes.
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
