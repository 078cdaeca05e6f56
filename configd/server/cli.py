"""The `configd` command: `configd serve` runs the server."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import click

from configd import __version__
from configd.core.errors import ConfigdError, InvalidArgument
from configd.core.limits import PER_PROCESS, Limits
from configd.server import logs
from configd.server.app import (
    DEFAULT_MAX_LAG_SECONDS,
    ConfigdServer,
    ListenFailure,
    ServerConfig,
)
from configd.server.security_options import SecurityOptions, security_options
from configd.server.supervisor import READY, Supervisor, die_with_supervisor, reserve
from configd.storage.open import check_store
from configd.storage.sqlite.backup import RestoreError, restore
from configd.storage.sqlite.store import SQLiteOptions, Synchronous
from configd.store.clients import DEFAULT_CLIENT_TIMEOUT, DEFAULT_FORGET_CLIENTS_AFTER
from configd.store.compactor import Retention
from configd.store.service import DEFAULT_MIN_REVISION_WAIT
from configd.store.writer import DEFAULT_COMMIT_TIMEOUT
from configd.watch.hub import WatchOptions
from configd_client.wire.limits import serve_flag

log = logging.getLogger("configd")


def _limit_options(command: Any) -> Any:
    """One --max-... flag per Limits field, so the limits are declared once."""
    for field in reversed(dataclasses.fields(Limits)):
        default = field.default
        command = click.option(
            serve_flag(field.name),
            field.name,
            type=click.IntRange(min=1),
            default=default,
            show_default=True,
            help=f"limit: {field.name.replace('_', ' ')}"
            + (" (per worker: N workers allow N times this)" if field.name in PER_PROCESS else ""),
        )(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="configd")
def main() -> None:
    """configd: a lightweight dynamic configuration center."""


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Directory of the SQLite database; with --store, only the local runtime directory "
    "(run/ sockets, worker status files).",
)
@click.option(
    "--store",
    default=None,
    metavar="DSN",
    help="A PostgreSQL database shared by every replica: postgresql://user@host1,host2/db "
    "or 'host=... dbname=...' (libpq; the password may come from ~/.pgpass or PGPASSWORD). "
    "Default: the SQLite database in --data-dir.",
)
@click.option(
    "--listen",
    default="127.0.0.1:7700",
    show_default=True,
    help="gRPC address (host:port; port 0 picks a free port).",
)
@click.option(
    "--http-listen",
    default="127.0.0.1:7701",
    show_default=True,
    help="HTTP address for gRPC-Web, the console (/ui), /metrics and /healthz.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default="text",
    show_default=True,
    help="text for people; json for one JSON object per line with structured fields.",
)
@click.option(
    "--log-level-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File naming the log level (debug|info|warning|error); read at start and on "
    "SIGHUP, overriding --log-level.",
)
@click.option(
    "--synchronous",
    type=click.Choice(["full", "normal"]),
    default=None,
    help="SQLite durability (default: full). 'normal' is faster but a power loss (not a "
    "process crash) can lose the last acknowledged writes. Not with --store: PostgreSQL "
    "acknowledges a commit once its WAL is flushed (configd refuses synchronous_commit=off).",
)
@click.option(
    "--watch-progress-interval",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="Seconds of quiet after which a watch stream gets a progress message.",
)
@click.option(
    "--watch-buffer",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Change sets buffered per watcher before it is moved to catch-up from history.",
)
@click.option(
    "--history-keep-revisions",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Keep at least the last N revisions of history (0 = no count rule).",
)
@click.option(
    "--history-keep-days",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Keep history younger than this (0 = no age rule). A revision is kept if either "
    "rule keeps it; with both 0 history is never compacted.",
)
@click.option(
    "--compaction-interval",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between retention checks.",
)
@click.option(
    "--commit-timeout",
    type=click.FloatRange(min=0.01),
    default=DEFAULT_COMMIT_TIMEOUT,
    show_default=True,
    help="Seconds a commit may take before its writers are answered UNAVAILABLE (outcome "
    "unknown; a write with a request id, as the SDK and configctl send, is simply retried) "
    "and writes are refused until the storage answers.",
)
@click.option(
    "--min-revision-wait",
    type=click.FloatRange(min=0),
    default=DEFAULT_MIN_REVISION_WAIT,
    show_default=True,
    help="Seconds a read with a min_revision (or a watch with a start_revision) that this "
    "server has not applied yet waits before answering UNAVAILABLE.",
)
@click.option(
    "--client-timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_CLIENT_TIMEOUT,
    show_default=True,
    help="Seconds a client that disconnected (or whose server died) still counts in a "
    "release's slice, as pending; after that it leaves the slice until it reconnects.",
)
@click.option(
    "--forget-clients-after",
    type=click.FloatRange(min=1),
    default=DEFAULT_FORGET_CLIENTS_AFTER,
    show_default=True,
    help="Seconds after which a disconnected client's record and acks are deleted from the "
    "store, unless a running release still counts it (clients restarting under default ids "
    "are new clients each time).",
)
@click.option(
    "--max-lag-seconds",
    type=click.FloatRange(min=0),
    default=DEFAULT_MAX_LAG_SECONDS,
    show_default=True,
    help='/readyz answers 503 ("lagging") while a revision another process sharing the '
    "data directory committed has waited longer than this to be applied here, so a load "
    "balancer sends this process no traffic until it has caught up.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Browser origin allowed to call gRPC-Web (repeatable; none by default).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes serving the same ports (SO_REUSEPORT) and data directory, under "
    "a supervisor; 1 runs the server in this process, with no supervisor.",
)
@click.option("--worker", "is_worker", is_flag=True, hidden=True)
@click.option("--worker-slot", type=click.IntRange(min=0), default=0, hidden=True)
@_limit_options
@security_options
def serve(
    data_dir: Path,
    listen: str,
    http_listen: str,
    log_level: str,
    log_format: str,
    log_level_file: Path | None,
    store: str | None,
    synchronous: str | None,
    watch_progress_interval: float,
    watch_buffer: int,
    history_keep_revisions: int,
    history_keep_days: float,
    compaction_interval: float,
    commit_timeout: float,
    min_revision_wait: float,
    max_lag_seconds: float,
    client_timeout: float,
    forget_clients_after: float,
    cors_origins: tuple[str, ...],
    security: SecurityOptions,
    workers: int,
    is_worker: bool,
    worker_slot: int,
    **limits: int,
) -> None:
    """Run the server.

    With --workers N (N > 1) this process is a supervisor: it picks the ports once, starts N
    workers (each a whole configd) and restarts one that dies. Signals to the supervisor:
    SIGTERM/SIGINT stop every worker; SIGHUP is forwarded to every worker (reload); SIGUSR2
    replaces the workers one at a time, each new one serving before an old one drains (for
    upgrades and configuration changes).

    \b
    Example:
      configd serve --data-dir /var/lib/configd --listen 127.0.0.1:7700
      configd serve --workers 4 ...; kill -USR2 <supervisor pid>  # rolling replacement
    """
    if log_level_file is not None and log_level_file.exists():
        try:
            log_level = logs.read_level_file(log_level_file)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--log-level-file") from exc
    if store is not None:
        try:
            check_store(store)
        except InvalidArgument as exc:
            raise click.BadParameter(exc.detail, param_hint="--store") from exc
        if synchronous is not None:
            raise click.BadParameter(
                "--synchronous applies to the SQLite database only; PostgreSQL's durability "
                "is its own synchronous_commit (configd refuses 'off')",
                param_hint="--synchronous",
            )
    synchronous = synchronous or "full"
    logs.setup(log_level, log_format)
    if workers > 1:
        scheme = "https" if security.tls is not None else "http"
        sys.exit(_supervise(workers, listen, http_listen, scheme))
    if is_worker:
        die_with_supervisor()
    config = ServerConfig(
        data_dir=data_dir,
        listen=listen,
        http_listen=http_listen,
        limits=Limits(**limits),
        sqlite=SQLiteOptions(synchronous=Synchronous(synchronous.upper())),
        store=store,
        cors_origins=cors_origins,
        commit_timeout=commit_timeout,
        min_revision_wait=min_revision_wait,
        max_lag_seconds=max_lag_seconds,
        client_timeout=client_timeout,
        forget_clients_after=forget_clients_after,
        watch=WatchOptions(
            buffer_size=watch_buffer,
            progress_interval=watch_progress_interval,
            max_watchers=security.max_watchers,
        ),
        **security.server_config(),
        worker=is_worker,
        worker_slot=worker_slot,
        retention=Retention(
            keep_revisions=history_keep_revisions,
            keep_seconds=history_keep_days * 86400.0,
            interval_seconds=compaction_interval,
        ),
    )
    if synchronous == "normal":
        log.warning("--synchronous normal: a power loss can lose acknowledged writes")
    try:
        run_event_loop(_serve(config, log_level_file))
    except FallenBehind as exc:
        click.echo(f"configd: stopped: {exc}", err=True)
        sys.exit(1)
    except ConfigdError as exc:
        click.echo(f"configd: cannot start: {exc.detail}", err=True)
        sys.exit(1)
    except ListenFailure as exc:
        _listen_failed(exc)


def _listen_failed(exc: ListenFailure) -> None:
    flag = "--listen" if exc.listener == "grpc" else "--http-listen"
    hint = "stop the other server or " if "in use" in exc.reason else ""
    click.echo(
        f"configd: cannot start: cannot listen on {exc.address} ({flag}): {exc.reason}; "
        f"{hint}choose another address with {flag}",
        err=True,
    )
    sys.exit(1)


def _supervise(workers: int, listen: str, http_listen: str, scheme: str) -> int:
    """Reserve the ports, then run `workers` copies of this command on them (one worker each)."""
    try:
        grpc_socket, grpc_address = reserve("grpc", listen)
        http_socket, http_address = reserve("http", http_listen)
    except ListenFailure as exc:
        _listen_failed(exc)
    # The worker's command is this one; click keeps the last value of a repeated option.
    command = [sys.executable, "-m", "configd", *sys.argv[1:]]
    command += ["--workers", "1", "--listen", grpc_address, "--http-listen", http_address]
    command.append("--worker")
    banner = [
        f"configd: grpc listening on {grpc_address}",
        f"configd: http listening on {scheme}://{http_address}",
    ]
    with grpc_socket, http_socket:
        return asyncio.run(Supervisor(command, workers).run(banner))


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop where it is installed (not on Windows), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


class FallenBehind(Exception):
    """The server stopped because it can no longer follow the store (ConfigdServer.
    fallen_behind); a restart loads the store's current state."""


async def _serve(config: ServerConfig, log_level_file: Path | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with ConfigdServer(config) as server:
        if log_level_file is not None:
            server.add_reload_hook(logs.LevelReloader(log_level_file))
        loop.add_signal_handler(signal.SIGHUP, server.reload)
        click.echo(f"configd: grpc listening on {server.grpc_address}")
        scheme = "https" if server.tls is not None else "http"
        click.echo(f"configd: http listening on {scheme}://{server.http_address}")
        click.echo(f"configd: data in {server.backend.name} {server.backend.where}")
        if server.admin_token_file is not None:
            click.echo(f"configd: admin token written to {server.admin_token_file} (mode 0600)")
        if config.worker:
            click.echo(READY)
        sys.stdout.flush()
        fallen_behind = server.fallen_behind
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(fallen_behind.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        log.info("stopping: finishing in-flight calls")
    log.info("stopped")
    if fallen_behind.is_set() and not stop.is_set():
        raise FallenBehind(server.service.follower.fallen_behind_reason)


@main.command(name="restore")
@click.argument("backup", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Data directory to restore into (new or empty, unless --force).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the database of a non-empty data directory; the old one is kept, renamed.",
)
def restore_command(backup: Path, data_dir: Path, force: bool) -> None:
    """Restore a backup (from `configctl backup FILE`) into a data directory.

    The file is checked first (SQLite integrity_check, a configd schema version this configd
    understands); the server must not be running on the directory.

    \b
    Example:
      configd restore configd-backup.db --data-dir /var/lib/configd
    """
    try:
        info = restore(backup, data_dir, force=force)
    except RestoreError as exc:
        click.echo(f"configd: cannot restore: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"configd: restored revision {info.revision} ({info.namespaces} "
        f"namespace{'' if info.namespaces == 1 else 's'}, "
        f"{info.size} bytes) into {data_dir}"
    )


@main.command(name="migrate")
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Data directory of the SQLite store to copy (stop every configd serving it first).",
)
@click.option(
    "--to",
    "target",
    required=True,
    help="PostgreSQL connection string (postgresql://... or 'key=value ...') of an empty database.",
)
def migrate_command(source: Path, target: str) -> None:
    """Copy a SQLite data directory's whole store into an empty PostgreSQL database.

    Every namespace, schema version, token and the whole history move with their revisions;
    the copy is then read back and compared with the source before this reports success.

    \b
    Example:
      configd migrate --from /var/lib/configd --to 'postgresql://configd@db/configd'
    """
    from configd.storage.postgresql.dsn import is_postgresql_dsn

    if not is_postgresql_dsn(target):
        click.echo(
            "configd: --to must be a PostgreSQL connection string (postgresql://... or "
            f"'host=... dbname=...'), not {target!r}",
            err=True,
        )
        sys.exit(2)
    try:
        from configd.server.migrate import migrate_store
        from configd.storage.postgresql.connect import mask_dsn
    except ImportError as exc:
        click.echo(
            f"configd: cannot migrate: the PostgreSQL driver is not installed ({exc}); "
            "install configd with the postgresql extra: pip install 'configd[postgresql]'",
            err=True,
        )
        sys.exit(1)
    try:
        report = asyncio.run(migrate_store(source, target))
    except ConfigdError as exc:
        click.echo(f"configd: cannot migrate: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(
        f"configd: migrated {source} to {mask_dsn(target)}: revision {report.revision}, "
        f"{report.namespaces} namespace{'' if report.namespaces == 1 else 's'}, "
        f"{report.change_sets} revisions of history, {report.tokens} "
        f"token{'' if report.tokens == 1 else 's'}; the copy was compared with the source "
        "and matches"
    )
