"""The files the SQLite backend keeps in a data directory (named here once: store, tokens,
backup and restore all use them)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DB_FILE = "configd.db"
LOCK_FILE = "configd.lock"  # shared by serving processes, exclusive for a restore (locks.py)
START_LOCK_FILE = "configd.start.lock"
MAINTENANCE_LOCK_FILE = "configd.maintenance.lock"
WRITE_TURN_FILE = "configd.write.lock"  # held by the process whose write batch goes next
DOORBELL_DIR = "doorbells"  # one unix datagram socket per serving process (follow.py)
APPLIED_DIR = "applied"  # each serving process's applied revision (applied.py)
RUNTIME_DIRS = frozenset({DOORBELL_DIR, APPLIED_DIR})  # per-process, never part of a restore
LOCK_FILES = frozenset({LOCK_FILE, START_LOCK_FILE, MAINTENANCE_LOCK_FILE, WRITE_TURN_FILE})


def database_size(data_dir: Path) -> int:
    """Bytes used by the database and its WAL."""
    total = 0
    for name in (DB_FILE, DB_FILE + "-wal"):
        with contextlib.suppress(FileNotFoundError):
            total += os.stat(data_dir / name).st_size
    return total
