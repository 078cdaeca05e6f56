"""Online backup and offline restore of the SQLite database.

Backup: the SQLite backup API copies every page in one step from its own read connection, so
the copy is one consistent snapshot (one read transaction in WAL mode) while the writer keeps
committing; the copy is then switched to a self-contained rollback-journal file.

Restore: a backup file is checked (integrity_check, a configd schema version this configd
understands, the configd tables) before anything is touched, copied into the data directory
under a temporary name and renamed into place, so a failed restore leaves no half database.
A data directory that already holds files is refused unless forced; forced, the old database
is kept next to the new one (renamed), never deleted, and a running configd (which holds the
lock file, shared) makes the restore fail; while it runs, no configd starts (locks.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
import time
from pathlib import Path

import aiosqlite

from configd.core.errors import StorageFailure
from configd.storage.base import BackupInfo
from configd.storage.sqlite.files import DB_FILE, LOCK_FILE, LOCK_FILES, RUNTIME_DIRS
from configd.storage.sqlite.locks import RESTORING, start_lock_blocking
from configd.storage.sqlite.migrations import MIGRATIONS

_TABLES = frozenset({"meta", "revisions", "changes", "schemas", "namespaces", "kv"})


class RestoreError(Exception):
    """A restore that was refused or failed; the message says why and what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def inspect(path: Path, *, full_check: bool = True) -> BackupInfo:
    """Check that `path` is a sound configd database; RestoreError says what is wrong."""
    if not path.is_file():
        raise RestoreError(f"{path} is not a file")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise RestoreError(f"cannot open {path}: {exc}") from exc
    try:
        if full_check:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
            if [tuple(r) for r in rows] != [("ok",)]:
                problems = "; ".join(str(r[0]) for r in rows[:5])
                raise RestoreError(f"{path} is damaged (integrity_check: {problems})")
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version == 0:
            raise RestoreError(f"{path} is not a configd database (no schema version)")
        if version > len(MIGRATIONS):
            raise RestoreError(
                f"{path} has configd schema version {version}, newer than this configd "
                f"understands ({len(MIGRATIONS)}); restore it with a newer configd"
            )
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if missing := _TABLES - tables:
            raise RestoreError(f"{path} lacks configd tables: {', '.join(sorted(missing))}")
        revision = int(connection.execute("SELECT max(revision) FROM revisions").fetchone()[0] or 0)
        row = connection.execute("SELECT value FROM meta WHERE name = 'compact_revision'")
        compact = row.fetchone()
        namespaces = int(connection.execute("SELECT count(*) FROM namespaces").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{path} is not a readable configd database: {exc}") from exc
    finally:
        connection.close()
    return BackupInfo(
        path=path,
        revision=revision,
        compact_revision=int(compact[0]) if compact else 0,
        namespaces=namespaces,
        schema_version=version,
        size=path.stat().st_size,
        sha256=_sha256(path),
    )


async def backup_database(db_path: Path, dest: Path) -> BackupInfo:
    """Write a consistent snapshot of the live database at `db_path` to `dest` (replaced)."""
    try:
        source = await aiosqlite.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StorageFailure(f"cannot open {db_path} for a backup: {exc}") from exc
    try:
        target = await aiosqlite.connect(dest)
        try:
            # pages=-1: every page in one step, i.e. in one read transaction: one snapshot.
            await source.backup(target, pages=-1)
            await target.execute("PRAGMA journal_mode = DELETE")
        finally:
            await target.close()
    except sqlite3.Error as exc:
        raise StorageFailure(f"the backup failed ({exc}); the database is unchanged") from exc
    finally:
        await source.close()
    try:
        return inspect(dest, full_check=False)
    except RestoreError as exc:
        raise StorageFailure(f"the backup copy is unusable: {exc}") from exc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def restore(source: Path, data_dir: Path, *, force: bool = False) -> BackupInfo:
    """Install the backup `source` as the database of `data_dir`; see the module docstring."""
    info = inspect(source)
    data_dir.mkdir(parents=True, exist_ok=True)
    present = sorted(
        p.name
        for p in data_dir.iterdir()
        if p.name not in LOCK_FILES and p.name not in RUNTIME_DIRS
    )
    if present and not force:
        raise RestoreError(
            f"the data directory {data_dir} is not empty ({', '.join(present[:5])}); restore "
            "into a new directory, or pass --force to replace its database (the old one is "
            "kept, renamed)"
        )
    try:
        with start_lock_blocking(data_dir):
            return _install(source, data_dir, info.sha256)
    except StorageFailure as exc:  # the start lock was not had in time
        raise RestoreError(exc.detail) from None


def _install(source: Path, data_dir: Path, sha256: str) -> BackupInfo:
    """restore() with the start lock held: no configd starts meanwhile."""
    with (data_dir / LOCK_FILE).open("a+b") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RestoreError(
                f"a configd process is using {data_dir}; stop it (every replica) before restoring"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{RESTORING} (pid {os.getpid()})\n".encode())
        lock.flush()
        staging = data_dir / f"{DB_FILE}.restoring"
        staging.unlink(missing_ok=True)
        try:
            with (
                contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
                contextlib.closing(sqlite3.connect(staging)) as dst,
            ):
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")
            with staging.open("rb") as file:
                os.fsync(file.fileno())
            restored = inspect(staging)
        except (sqlite3.Error, OSError, RestoreError) as exc:
            staging.unlink(missing_ok=True)
            raise RestoreError(f"restore into {data_dir} failed: {exc}") from exc
        current = data_dir / DB_FILE
        if current.exists():
            # Keep the replaced database (with its WAL, which holds committed writes).
            stamp = time.strftime("%Y%m%dT%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                old = data_dir / f"{DB_FILE}{suffix}"
                if old.exists():
                    old.rename(data_dir / f"{DB_FILE}.before-restore-{stamp}{suffix}")
        staging.rename(current)
        _fsync_dir(data_dir)
    return BackupInfo(
        path=current,
        revision=restored.revision,
        compact_revision=restored.compact_revision,
        namespaces=restored.namespaces,
        schema_version=restored.schema_version,
        size=restored.size,
        sha256=sha256,
    )
