"""Commits lost by the store, as an asynchronous standby promoted without them would lose them.

`lose_commits_after(db_path, keep)` rewrites a configd SQLite file, with plain sqlite3 in one
IMMEDIATE transaction (safe while configd processes have it open: they see one commit by
another process), so that it holds exactly what it held after revision `keep`: the revisions
and changes after it are deleted, every key they touched gets its old value (and metadata)
back, namespaces created after it are dropped, the others get back their last write and schema
version. Writes that deleted a namespace cannot be undone from the change rows (its keys' old
rows are, its schema is not), so the helper refuses them rather than leave a store that never
existed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from configd.core.model import WriteKind


def lose_commits_after(db_path: Path, keep: int) -> int:
    """Make the store at `db_path` as it was after revision `keep`; the revisions dropped."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("BEGIN IMMEDIATE")
        try:
            kinds = {
                WriteKind(kind)
                for (kind,) in db.execute(
                    "SELECT DISTINCT kind FROM revisions WHERE revision > ?", (keep,)
                )
            }
            assert WriteKind.DELETE_NAMESPACE not in kinds, "cannot undo a namespace delete"
            lost = db.execute("SELECT count(*) FROM revisions WHERE revision > ?", (keep,))
            dropped = int(lost.fetchone()[0])
            changes = db.execute(
                "SELECT namespace, key, old_value, old_create_revision, old_mod_revision,"
                " old_version FROM changes WHERE revision > ? ORDER BY revision DESC",
                (keep,),
            ).fetchall()
            # Newest first: the last row written for a key holds its value as of `keep`.
            for namespace, key, value, create_revision, mod_revision, version in changes:
                if value is None:
                    db.execute("DELETE FROM kv WHERE namespace = ? AND key = ?", (namespace, key))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?, ?, ?)",
                        (namespace, key, value, create_revision, mod_revision, version),
                    )
            db.execute("DELETE FROM changes WHERE revision > ?", (keep,))
            db.execute("DELETE FROM schemas WHERE revision > ?", (keep,))
            db.execute("DELETE FROM namespaces WHERE create_revision > ?", (keep,))
            db.execute("DELETE FROM revisions WHERE revision > ?", (keep,))
            db.execute(
                "UPDATE namespaces SET"
                " mod_revision = (SELECT max(revision) FROM revisions"
                "  WHERE revisions.namespace = namespaces.name),"
                " schema_version = coalesce((SELECT max(version) FROM schemas"
                "  WHERE schemas.namespace = namespaces.name), schema_version)"
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    finally:
        db.close()
    return dropped
