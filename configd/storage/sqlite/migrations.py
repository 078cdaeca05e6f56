"""Database schema migrations, applied in order by PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from configd.core.errors import StorageFailure

# Each entry upgrades user_version i to i + 1. Never edit a released entry; append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- One row per committed write (revision); the audit record.
    CREATE TABLE revisions (
        revision INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL,
        kind INTEGER NOT NULL,
        author TEXT NOT NULL,
        message TEXT NOT NULL,
        time REAL NOT NULL,
        schema_version INTEGER NOT NULL,
        create_revision INTEGER NOT NULL
    );
    CREATE INDEX revisions_by_namespace ON revisions (namespace, revision);

    -- What each write did to each key: old and new value with their metadata.
    CREATE TABLE changes (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        revision INTEGER NOT NULL,
        old_value TEXT,
        old_create_revision INTEGER,
        old_mod_revision INTEGER,
        old_version INTEGER,
        new_value TEXT,
        new_create_revision INTEGER,
        new_version INTEGER,
        PRIMARY KEY (namespace, key, revision)
    ) WITHOUT ROWID;
    CREATE INDEX changes_by_revision ON changes (revision);

    -- Schema versions; numbering continues across a namespace's delete and re-create.
    CREATE TABLE schemas (
        namespace TEXT NOT NULL,
        version INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        schema TEXT NOT NULL,
        PRIMARY KEY (namespace, version)
    ) WITHOUT ROWID;

    -- Current state, so start-up reads it directly instead of replaying history.
    CREATE TABLE namespaces (
        name TEXT PRIMARY KEY,
        create_revision INTEGER NOT NULL,
        mod_revision INTEGER NOT NULL,
        schema_version INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE kv (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        create_revision INTEGER NOT NULL,
        mod_revision INTEGER NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;
    """,
    # 2: bearer tokens (configd.auth). Only a hash of each secret is stored; revoked tokens
    # stay, so a name in the audit history always means one token.
    """
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        grants TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL,
        revoked_at REAL,
        created_by TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 3: token generations (replicas, issue 16). Each token write takes the next generation
    # (the highest stored + 1, under the write lock), so every process sharing the file
    # reloads exactly the tokens changed since the generation it has applied.
    """
    ALTER TABLE tokens ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX tokens_by_generation ON tokens (generation);
    """,
    # 4: client request ids (issue 17): a retry of a committed write finds its revision.
    # NULL for writes without one; unique, so one id never names two writes.
    """
    ALTER TABLE revisions ADD COLUMN request_id TEXT;
    CREATE UNIQUE INDEX revisions_by_request_id ON revisions (request_id)
        WHERE request_id IS NOT NULL;
    """,
    # 5: releases (issue 19). A release row is written by its start (id = the start
    # revision) and updated by its end; never compacted, so a start's or an abort's change
    # set (whose changes are the release's, configd.storage.rows) can always be read back.
    # Clients and their acks are reports, not configuration: not revisioned.
    """
    CREATE TABLE releases (
        id INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL,
        state INTEGER NOT NULL,
        selectors TEXT NOT NULL,
        percent INTEGER NOT NULL,
        max_failures INTEGER,
        bake_seconds REAL NOT NULL,
        base_revision INTEGER NOT NULL,
        changes TEXT NOT NULL,
        started_by TEXT NOT NULL,
        message TEXT NOT NULL,
        started_at REAL NOT NULL,
        end_revision INTEGER NOT NULL,
        ended_by TEXT NOT NULL,
        end_message TEXT NOT NULL,
        ended_at REAL NOT NULL,
        outcome_json TEXT NOT NULL
    );
    CREATE INDEX releases_by_namespace ON releases (namespace, id);
    CREATE INDEX releases_by_end_revision ON releases (end_revision);

    CREATE TABLE clients (
        client_id TEXT PRIMARY KEY,
        labels TEXT NOT NULL,
        replica TEXT NOT NULL,
        names TEXT NOT NULL,
        prefixes TEXT NOT NULL,
        connected_at REAL NOT NULL,
        seen_at REAL NOT NULL,
        connected INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX clients_by_replica ON clients (replica);
    CREATE INDEX clients_by_seen_at ON clients (seen_at);

    CREATE TABLE acks (
        namespace TEXT NOT NULL,
        client_id TEXT NOT NULL,
        applied_revision INTEGER NOT NULL,
        applied_at REAL NOT NULL,
        rejected_revision INTEGER NOT NULL,
        rejected_at REAL NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (namespace, client_id)
    ) WITHOUT ROWID;
    """,
)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the database open on `db` (autocommit) to the newest schema; StorageFailure if it
    is newer than this configd understands."""
    row = db.execute("PRAGMA user_version").fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise StorageFailure(
            f"database {path} has schema version {version}, newer than this "
            f"configd understands ({len(MIGRATIONS)}); upgrade configd"
        )
    for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first; the version bump is part of the migration.
        db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {target};\nCOMMIT;")
