"""`configd migrate`: move a server's whole store from a SQLite data directory to PostgreSQL.

The source is opened as a configd process would open it (migrating an older database to the
newest schema first) and claimed for sole use, so no configd serves it while it is copied and
none starts until the copy is verified. The target must hold no configd data. The rows move as
they are (configd.storage.transfer), in one target transaction, and the copy is then read back
through a fresh open of the target and compared with the source, namespace by namespace and
revision by revision, before the command says it succeeded.
"""

from __future__ import annotations

from pathlib import Path

from configd.core.errors import StorageFailure
from configd.storage.postgresql.store import PostgreSQLStorage
from configd.storage.postgresql.tokens import PostgreSQLTokenStore
from configd.storage.sqlite.files import DB_FILE
from configd.storage.sqlite.store import SQLiteStorage
from configd.storage.sqlite.tables import read_tables
from configd.storage.sqlite.tokens import SQLiteTokenStore
from configd.storage.transfer import CopyReport, verify_copy


async def migrate_store(data_dir: Path, dsn: str) -> CopyReport:
    """Copy the store of `data_dir` into the empty PostgreSQL database `dsn` and verify it."""
    if not (data_dir / DB_FILE).is_file():
        raise StorageFailure(f"{data_dir} holds no configd database ({DB_FILE}); check --from")
    source = SQLiteStorage(data_dir)
    source_state = await source.open()
    source_tokens = SQLiteTokenStore(source)
    try:
        source.claim_sole_use("migrating it")
        await source_tokens.open()
        target = PostgreSQLStorage(dsn)
        await target.open()
        try:
            await target.load_tables(read_tables(source.path))
        finally:
            await target.close()
        # A fresh open: the copy is judged by what a replica starting on it would load.
        copy = PostgreSQLStorage(dsn)
        copy_state = await copy.open()
        copy_tokens = PostgreSQLTokenStore(copy)
        try:
            await copy_tokens.open()
            return await verify_copy(
                source, source_state, source_tokens, copy, copy_state, copy_tokens
            )
        finally:
            await copy_tokens.close()
            await copy.close()
    finally:
        await source_tokens.close()
        await source.close()
