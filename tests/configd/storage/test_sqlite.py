"""The SQLite backend on a real file: durability settings, WAL readers, backup (what every
backend does is in test_contract.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from configd.storage.sqlite.backup import restore
from configd.storage.sqlite.migrations import MIGRATIONS
from configd.storage.sqlite.store import DB_FILE, SQLiteOptions, SQLiteStorage, Synchronous
from tests.configd.storage.writes import create, put


async def test_database_is_wal_with_full_sync_and_migrated(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    await storage.open()
    await storage.close()
    db = sqlite3.connect(tmp_path / DB_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()


async def test_writer_connection_uses_the_configured_synchronous_mode(tmp_path: Path) -> None:
    for mode, expected in ((Synchronous.FULL, 2), (Synchronous.NORMAL, 1)):
        storage = SQLiteStorage(tmp_path / mode.value, SQLiteOptions(synchronous=mode))
        await storage.open()
        try:
            mode_now = await storage._writer_thread().run(
                lambda db: db.execute("PRAGMA synchronous").fetchone()[0]
            )
            assert mode_now == expected
        finally:
            await storage.close()


async def test_reads_do_not_wait_for_an_open_write_transaction(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    await storage.open()
    try:
        await storage.commit([create(1), put(2, "a", "1")])
        writer = storage._writer_thread()
        await writer.run(lambda db: db.execute("BEGIN IMMEDIATE"))
        await writer.run(lambda db: db.execute("DELETE FROM changes"))
        # The write transaction is open and holds the write lock; readers see the last commit.
        assert [cs.revision for cs in await storage.history("ns", None, 0, 10)] == [2, 1]
        await writer.run(lambda db: db.execute("ROLLBACK"))
    finally:
        await storage.close()


async def test_backup_and_size_through_the_storage_admin_methods(tmp_path: Path) -> None:
    """What the admin service and /metrics use instead of reaching for the database file."""
    storage = SQLiteStorage(tmp_path / "live")
    await storage.open()
    try:
        await storage.commit([create(1)])
        small = storage.disk_bytes()
        assert small > 0
        await storage.commit(
            [put(revision, f"k{revision}", json.dumps("x" * 4000)) for revision in range(2, 40)]
        )
        assert storage.disk_bytes() > small + 38 * 4000
        info = await storage.backup(tmp_path / "copy")
        await storage.commit([put(40, "late", "1")])  # after the backup: not in it
    finally:
        await storage.close()
    assert (info.revision, info.compact_revision, info.namespaces) == (39, 0, 1)
    assert info.size == (tmp_path / "copy").stat().st_size
    restore(tmp_path / "copy", tmp_path / "restored")
    restored = SQLiteStorage(tmp_path / "restored")
    state = await restored.open()
    try:
        assert state.revision == 39
        assert "late" not in state.namespaces["ns"].entries
    finally:
        await restored.close()
