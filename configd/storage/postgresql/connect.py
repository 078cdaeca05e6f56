"""Connecting to PostgreSQL, and what its errors mean to a person.

psycopg errors become StorageFailure (or Unavailable) in this package and nowhere above; the
messages name the server by a DSN with its password masked (mask_dsn), never the password.

A failure a retry can cure -- the server is unreachable, the connection was lost, the server
is shutting down or starting, no host of a multi-host DSN accepts writes yet (a failover in
progress) -- is Unavailable with a retry hint, which the SDK and configctl retry (a write with
its request id); anything else the database said is StorageFailure, which they do not.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from configd.core.errors import StorageFailure, Unavailable

APPLICATION_NAME = "configd"


def mask_dsn(dsn: str) -> str:
    """`dsn` without its password, for logs, errors and status pages."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<a malformed PostgreSQL connection string>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)


def check_dsn(dsn: str) -> None:
    """StorageFailure if libpq cannot parse `dsn`."""
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise StorageFailure(
            f"the PostgreSQL connection string is malformed: {_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]


_AWAY_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
"""admin_shutdown, crash_shutdown, cannot_connect_now (starting up, or in recovery)."""


def is_away(exc: psycopg.Error) -> bool:
    """Whether `exc` says the server is away rather than refusing: no SQLSTATE (libpq found
    the connection refused, lost, or no host accepting writes), a connection exception
    (class 08), or a shutdown or start in progress."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _AWAY_SQLSTATES


def unreachable(doing: str, where: str, detail: str) -> Unavailable:
    """What a caller hears while the database is away: UNAVAILABLE, retry."""
    return Unavailable(
        f"{doing} failed: PostgreSQL at {where} is unreachable ({detail}); retry (a restart "
        "or failover ends by itself, and a write with a request id is not applied twice), "
        "and if it lasts check that the server is running and reachable"
    )


def failure(exc: psycopg.Error, doing: str, dsn: str) -> StorageFailure | Unavailable:
    """Unavailable if the server is away (is_away), else a StorageFailure saying what failed
    while `doing` and what to check."""
    error: StorageFailure | Unavailable
    if is_away(exc):
        error = unreachable(doing, mask_dsn(dsn), _first_line(exc))
    else:
        error = StorageFailure(
            f"{doing} failed on {mask_dsn(dsn)}: {_first_line(exc)}; "
            "check the PostgreSQL server's log"
        )
    error.__cause__ = exc
    return error


async def connect(dsn: str, *, connect_timeout: float) -> AsyncConnection[tuple[object, ...]]:
    """An autocommit connection (transactions are explicit: `conn.transaction()`)."""
    try:
        return await AsyncConnection.connect(
            dsn,
            autocommit=True,
            connect_timeout=max(1, round(connect_timeout)),
            application_name=APPLICATION_NAME,
        )
    except psycopg.Error as exc:
        raise failure(exc, "connecting", dsn) from exc


async def close_quietly(conn: AsyncConnection[tuple[object, ...]] | None) -> None:
    if conn is not None:
        with contextlib.suppress(psycopg.Error, OSError):
            await conn.close()


@contextlib.asynccontextmanager
async def translated(doing: str, dsn: str) -> AsyncIterator[None]:
    """psycopg errors inside become StorageFailure(doing)."""
    try:
        yield
    except psycopg.Error as exc:
        raise failure(exc, doing, dsn) from exc


async def check_durable(conn: AsyncConnection[tuple[object, ...]], dsn: str) -> None:
    """Refuse a server that would acknowledge commits it may lose."""
    for setting in ("fsync", "synchronous_commit"):
        row = await (await conn.execute(f"SHOW {setting}")).fetchone()
        if row is not None and str(row[0]).lower() == "off":
            raise StorageFailure(
                f"PostgreSQL at {mask_dsn(dsn)} runs with {setting}=off, so a commit it "
                f"acknowledges may be lost in a crash; configd refuses it: set {setting}=on "
                "(in postgresql.conf, or for configd's role: ALTER ROLE ... SET)"
            )
