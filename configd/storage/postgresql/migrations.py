"""PostgreSQL schema migrations, numbered in the one-row table `schema_migrations`.

The tables are SQLite's (configd.storage.sqlite.migrations: revisions, changes, schemas, kv,
namespaces, meta, tokens, releases, clients, acks) in PostgreSQL's types, plus what sharing
one database across machines needs: `head` (the revision counter row every write transaction
locks, so commit order is revision order) and `token_head` (the token generation, likewise),
and `applied` (each process's applied revision, the compaction floor). A migration runs in
one transaction under a transaction advisory lock, so replicas starting together migrate
once.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from configd.core.errors import StorageFailure
from configd.storage.postgresql.locks import MIGRATION_LOCK

# Each entry upgrades version i to i + 1. Never edit a released entry; append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (
        name text PRIMARY KEY,
        value bigint NOT NULL
    );

    -- The store's revision counter: one row, locked FOR UPDATE by every write transaction
    -- and held to COMMIT, so revisions commit in order and never leave gaps.
    CREATE TABLE head (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        revision bigint NOT NULL,
        compact_revision bigint NOT NULL
    );
    INSERT INTO head VALUES (true, 0, 0);

    -- One row per committed write (revision); the audit record.
    CREATE TABLE revisions (
        revision bigint PRIMARY KEY,
        namespace text NOT NULL,
        kind smallint NOT NULL,
        author text NOT NULL,
        message text NOT NULL,
        time double precision NOT NULL,
        schema_version integer NOT NULL,
        create_revision bigint NOT NULL,
        -- A client's request id (NULL without one): a retry of a committed write finds it.
        request_id text
    );
    CREATE INDEX revisions_by_namespace ON revisions (namespace, revision);
    CREATE INDEX revisions_by_time ON revisions (time);
    CREATE UNIQUE INDEX revisions_by_request_id ON revisions (request_id)
        WHERE request_id IS NOT NULL;

    -- What each write did to each key: old and new value with their metadata.
    CREATE TABLE changes (
        namespace text NOT NULL,
        key text NOT NULL,
        revision bigint NOT NULL,
        old_value text,
        old_create_revision bigint,
        old_mod_revision bigint,
        old_version bigint,
        new_value text,
        new_create_revision bigint,
        new_version bigint,
        PRIMARY KEY (namespace, key, revision)
    );
    CREATE INDEX changes_by_revision ON changes (revision);

    -- Schema versions; numbering continues across a namespace's delete and re-create.
    CREATE TABLE schemas (
        namespace text NOT NULL,
        version integer NOT NULL,
        revision bigint NOT NULL,
        schema text NOT NULL,
        PRIMARY KEY (namespace, version)
    );

    -- Current state, so start-up reads it directly instead of replaying history.
    CREATE TABLE namespaces (
        name text PRIMARY KEY,
        create_revision bigint NOT NULL,
        mod_revision bigint NOT NULL,
        schema_version integer NOT NULL
    );

    CREATE TABLE kv (
        namespace text NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        create_revision bigint NOT NULL,
        mod_revision bigint NOT NULL,
        version bigint NOT NULL,
        PRIMARY KEY (namespace, key)
    );

    -- Bearer tokens: only a hash of each secret; revoked tokens stay, so a name in the audit
    -- history always means one token. Each write takes the next generation (token_head).
    CREATE TABLE tokens (
        name text PRIMARY KEY,
        hash bytea NOT NULL UNIQUE,
        grants text NOT NULL,
        created_at double precision NOT NULL,
        expires_at double precision,
        revoked_at double precision,
        created_by text NOT NULL,
        generation bigint NOT NULL
    );
    CREATE INDEX tokens_by_generation ON tokens (generation);
    CREATE TABLE token_head (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        generation bigint NOT NULL
    );
    INSERT INTO token_head VALUES (true, 0);

    -- Each serving process's applied revision and heartbeat, and the server session it
    -- last reported on (applied.py).
    CREATE TABLE applied (
        process uuid PRIMARY KEY,
        revision bigint NOT NULL,
        updated_at timestamptz NOT NULL,
        backend_pid integer NOT NULL,
        backend_start timestamptz
    );
    """,
    # 2: releases (issue 19), as SQLite's migration 5. `connected` is a smallint, not a
    # boolean, so rows copy between the backends as they are (configd.storage.transfer).
    """
    CREATE TABLE releases (
        id bigint PRIMARY KEY,
        namespace text NOT NULL,
        state smallint NOT NULL,
        selectors text NOT NULL,
        percent integer NOT NULL,
        max_failures integer,
        bake_seconds double precision NOT NULL,
        base_revision bigint NOT NULL,
        changes text NOT NULL,
        started_by text NOT NULL,
        message text NOT NULL,
        started_at double precision NOT NULL,
        end_revision bigint NOT NULL,
        ended_by text NOT NULL,
        end_message text NOT NULL,
        ended_at double precision NOT NULL,
        outcome_json text NOT NULL
    );
    CREATE INDEX releases_by_namespace ON releases (namespace, id);
    CREATE INDEX releases_by_end_revision ON releases (end_revision);

    CREATE TABLE clients (
        client_id text PRIMARY KEY,
        labels text NOT NULL,
        replica text NOT NULL,
        names text NOT NULL,
        prefixes text NOT NULL,
        connected_at double precision NOT NULL,
        seen_at double precision NOT NULL,
        connected smallint NOT NULL
    );
    CREATE INDEX clients_by_replica ON clients (replica);
    CREATE INDEX clients_by_seen_at ON clients (seen_at);

    CREATE TABLE acks (
        namespace text NOT NULL,
        client_id text NOT NULL,
        applied_revision bigint NOT NULL,
        applied_at double precision NOT NULL,
        rejected_revision bigint NOT NULL,
        rejected_at double precision NOT NULL,
        reason text NOT NULL,
        PRIMARY KEY (namespace, client_id)
    );
    """,
)


async def migrate(conn: AsyncConnection[tuple[object, ...]], where: str) -> int:
    """Bring the database on `conn` (autocommit) to the newest schema, one transaction per
    migration; the schema version it is at. StorageFailure if it is newer than this configd
    understands."""
    async with conn.transaction():
        # Held to the end of the transaction: another replica migrating waits here, then
        # finds the work done.
        await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),"
            " version integer NOT NULL)"
        )
        row = await (await conn.execute("SELECT version FROM schema_migrations")).fetchone()
        version = int(row[0]) if row is not None else 0  # type: ignore[call-overload]
        if version > len(MIGRATIONS):
            raise StorageFailure(
                f"database {where} has schema version {version}, newer than this configd "
                f"understands ({len(MIGRATIONS)}); upgrade configd"
            )
        for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await conn.execute(script.encode())
            await conn.execute(
                "INSERT INTO schema_migrations VALUES (true, %s)"
                " ON CONFLICT (only_row) DO UPDATE SET version = excluded.version",
                (target,),
            )
            version = target
    return version
