"""A SQLite database's tables as rows, out and in (configd.storage.transfer).

Out: the source of `configd migrate`, read while no other configd serves the data
directory (SQLiteStorage.claim_sole_use). In: a fresh SQLite file at the newest schema,
filled from another backend's rows: how a PostgreSQL store is backed up into the one backup
format configd restores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from configd.core.errors import StorageFailure
from configd.storage.sqlite.migrations import migrate
from configd.storage.transfer import CHUNK_ROWS, TABLES, TableRows, TableStream


async def read_tables(path: Path) -> TableStream:
    """Every table of the database at `path`, in chunks, from one read transaction."""
    try:
        db = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageFailure(f"cannot open {path}: {exc}") from exc
    try:
        await db.execute("BEGIN")  # one snapshot for every table
        for table in TABLES:
            async with db.execute(f"SELECT * FROM {table}") as cursor:
                columns = tuple(d[0] for d in cursor.description)
                while rows := await cursor.fetchmany(CHUNK_ROWS):
                    yield TableRows(table, columns, [tuple(r) for r in rows])
        await db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StorageFailure(f"reading {path} failed: {exc}") from exc
    finally:
        await db.close()


async def write_tables(path: Path, tables: AsyncIterator[TableRows]) -> None:
    """Create the database `path` (which must not exist) at the newest schema, filled with
    `tables`, in one transaction, and make it durable."""
    if await asyncio.to_thread(path.exists):
        raise StorageFailure(f"{path} exists already")

    def create() -> None:
        # The schema through the same migrations every database takes.
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            migrate(db, path)

    try:
        await asyncio.to_thread(create)
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await db.execute("BEGIN IMMEDIATE")
            async for chunk in tables:
                placeholders = ", ".join("?" * len(chunk.columns))
                await db.executemany(
                    f"INSERT INTO {chunk.table} ({', '.join(chunk.columns)})"
                    f" VALUES ({placeholders})",
                    chunk.rows,
                )
            await db.execute("COMMIT")
        with path.open("rb") as file:
            os.fsync(file.fileno())
    except (sqlite3.Error, OSError) as exc:
        _remove(path)
        raise StorageFailure(f"writing {path} failed: {exc}") from exc
    except BaseException:
        _remove(path)
        raise


def _remove(path: Path) -> None:
    """A half-written copy is never left behind."""
    path.unlink(missing_ok=True)
