"""The one place that chooses a storage backend from `configd serve --store`.

No --store: the SQLite file in --data-dir (the embedded default). A value starting with
postgresql:// or postgres://, or a libpq "key=value ..." string: PostgreSQL. Anything else
is refused with a message naming --store. Everything above sees only the Protocols of
configd.storage.base (the pair built here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from configd.core.errors import InvalidArgument
from configd.storage.base import ClientStore, Storage, StorageAdmin, TokenStore
from configd.storage.postgresql.dsn import is_postgresql_dsn
from configd.storage.postgresql.options import PostgreSQLOptions
from configd.storage.sqlite.files import DB_FILE
from configd.storage.sqlite.store import SQLiteOptions, SQLiteStorage
from configd.storage.sqlite.tokens import SQLiteTokenStore


class ServedStorage(Storage, StorageAdmin, ClientStore, Protocol):
    """What a server runs on: the Storage, its operations, and the clients' records."""


@dataclass(frozen=True, slots=True)
class Backend:
    storage: ServedStorage
    tokens: TokenStore
    name: str  # "sqlite" or "postgresql"
    where: str  # the database file, or the DSN with its password masked

    @property
    def clients(self) -> ClientStore:
        """Where the clients and their acks are recorded (the storage itself)."""
        return self.storage


def is_postgresql(store: str | None) -> bool:
    return store is not None and is_postgresql_dsn(store)


def check_store(store: str | None) -> None:
    """InvalidArgument (naming --store) unless `store` is None or names PostgreSQL."""
    if store is not None and not is_postgresql_dsn(store):
        raise InvalidArgument(
            f"--store {store!r} is not a PostgreSQL connection string (postgresql://..., "
            "postgres://... or 'host=... dbname=...'); leave --store out for the SQLite "
            "database in --data-dir"
        )


def open_backend(
    store: str | None,
    data_dir: Path,
    sqlite: SQLiteOptions | None = None,
    postgresql: PostgreSQLOptions | None = None,
) -> Backend:
    """The storage and token store for `store` (None: SQLite in `data_dir`); unopened."""
    check_store(store)
    if store is None:
        storage = SQLiteStorage(data_dir, sqlite)
        return Backend(
            storage, SQLiteTokenStore(storage), "sqlite", str((data_dir / DB_FILE).resolve())
        )
    try:
        # The driver is the optional configd[postgresql] extra (psycopg, LGPL-3.0): a SQLite
        # install never imports it.
        from configd.storage.postgresql.connect import mask_dsn
        from configd.storage.postgresql.store import PostgreSQLStorage
        from configd.storage.postgresql.tokens import PostgreSQLTokenStore
    except ImportError as exc:
        raise InvalidArgument(
            f"--store names a PostgreSQL database, but its driver is not installed ({exc}); "
            "install configd with the postgresql extra: pip install 'configd[postgresql]'"
        ) from exc
    pg = PostgreSQLStorage(store, postgresql)
    return Backend(pg, PostgreSQLTokenStore(pg), "postgresql", mask_dsn(store))
