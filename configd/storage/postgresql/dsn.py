"""Whether a --store value names PostgreSQL: plain text rules, importable without the driver
(psycopg is the optional `configd[postgresql]` extra)."""

from __future__ import annotations


def is_postgresql_dsn(store: str) -> bool:
    """Whether `store` (a --store value) names a PostgreSQL database: a postgresql:// or
    postgres:// URI, or a libpq "key=value ..." connection string."""
    if store.startswith(("postgresql://", "postgres://")):
        return True
    first = store.strip().split(None, 1)[0] if store.strip() else ""
    return "=" in first and "/" not in first.split("=", 1)[0]
