"""The PostgreSQL backend's settings, importable without its driver (psycopg is the optional
`configd[postgresql]` extra), so the server's assembly can name them on any install."""

from __future__ import annotations

from dataclasses import dataclass

STALE_AFTER = 60.0
"""Seconds after which a live process's applied row no longer holds compaction back."""


@dataclass(frozen=True, slots=True)
class PostgreSQLOptions:
    # Seconds the doorbell waits for a notification before it reads the head anyway.
    poll_interval: float = 0.5
    # Seconds after which a live process that stopped reporting its applied revision no
    # longer holds compaction back (applied.py).
    applied_stale_seconds: float = STALE_AFTER
    # Connections for history reads, compaction and tokens (besides the write, follower and
    # doorbell connections).
    pool_size: int = 4
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.poll_interval <= 1.0:
            raise ValueError("poll_interval must be in (0, 1] seconds")
