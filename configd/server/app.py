"""Assembling and running a configd server: storage, service, gRPC and HTTP listeners."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import errno
import gc
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from configd import __version__
from configd.api.admin_servicer import AdminServicer
from configd.api.auth import Guard
from configd.api.config_servicer import ConfigServicer
from configd.api.handlers import generic_handler
from configd.api.release_servicer import ReleaseServicer
from configd.api.token_servicer import TokenServicer
from configd.api.watch_encoding import ProtoEncoder
from configd.core.errors import StorageFailure
from configd.core.limits import Limits
from configd.http import status
from configd.http.listener import HttpListener
from configd.server.metrics import ServerMetrics
from configd.server.tls import ServerTLS, TLSFiles
from configd.server.worker_metrics import WorkerMetrics
from configd.server.workers import StatusFile, read_all
from configd.storage.open import open_backend
from configd.storage.postgresql.options import PostgreSQLOptions
from configd.storage.sqlite.store import SQLiteOptions
from configd.store.clients import (
    DEFAULT_CLIENT_TIMEOUT,
    DEFAULT_FORGET_CLIENTS_AFTER,
    ClientRegistry,
)
from configd.store.compactor import Compactor, Retention
from configd.store.releases import Releases
from configd.store.service import DEFAULT_MIN_REVISION_WAIT, ConfigService
from configd.store.tokens import TokenRegistry
from configd.store.writer import DEFAULT_COMMIT_TIMEOUT
from configd.watch.hub import WatchHub, WatchOptions
from configd_client.wire import admin_pb2, config_pb2, release_pb2

log = logging.getLogger("configd")

DEFAULT_MAX_LAG_SECONDS = 5.0

CONFIG_SERVICE = config_pb2.DESCRIPTOR.services_by_name["ConfigService"]
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
RELEASE_SERVICE = release_pb2.DESCRIPTOR.services_by_name["ReleaseService"]
SERVICE_NAMES = (CONFIG_SERVICE.full_name, ADMIN_SERVICE.full_name, RELEASE_SERVICE.full_name)


def _tune_gc() -> None:
    """Start-up objects (modules, the loaded state) never need scanning again, and a watch
    fan-out allocates many short-lived objects: fewer young collections save CPU there."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


class ListenFailure(Exception):
    """A listener could not bind its address; raised before the data directory is touched."""

    def __init__(self, listener: str, address: str, reason: str) -> None:
        super().__init__(f"cannot listen on {address}: {reason}")
        self.listener = listener  # "grpc" or "http"
        self.address = address
        self.reason = reason


def _resolve(listener: str, address: str) -> tuple[int, list[Any]]:
    """The port of `address` (host:port) and the socket addresses it names."""
    host, _, port_text = address.rpartition(":")
    try:
        port = int(port_text)
        infos = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (ValueError, OSError) as exc:
        raise ListenFailure(listener, address, "the address is invalid") from exc
    return port, infos


def _bind_http(address: str, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on `address` (host:port; port 0 picks one), for the HTTP listener.

    `reuse_port` (workers only): several processes listen on the port, the kernel spreads
    the connections."""
    family, kind, proto, _, sockaddr = _resolve("http", address)[1][0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenFailure("http", address, _bind_reason(exc)) from exc
    sock.setblocking(False)
    return sock


def _probe_grpc(address: str) -> None:
    """Fail clearly when the gRPC address is taken, before grpc's C core logs its own error.

    A probe, not the bind (grpc binds its own socket); it only spares the operator the
    C-core noise in the common case."""
    port, infos = _resolve("grpc", address)
    if port == 0:
        return
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                raise ListenFailure("grpc", address, _bind_reason(exc)) from exc


def _bind_reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the address is in use"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no such local address"
    return exc.strerror or str(exc)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path = Path("data")
    listen: str = "127.0.0.1:7700"
    http_listen: str = "127.0.0.1:7701"
    limits: Limits = field(default_factory=Limits)
    sqlite: SQLiteOptions = field(default_factory=SQLiteOptions)
    # `configd serve --store`: None is the SQLite file in data_dir; a PostgreSQL DSN shares
    # one database between replicas on several machines (configd.storage.open). data_dir stays
    # the local runtime directory either way (run/ sockets, worker status files).
    store: str | None = None
    postgresql: PostgreSQLOptions = field(default_factory=PostgreSQLOptions)
    cors_origins: tuple[str, ...] = ()
    watch: WatchOptions = field(default_factory=WatchOptions)
    retention: Retention = field(default_factory=Retention)
    # Seconds a commit may take before its writers hear "outcome unknown" (configd.store.writer).
    commit_timeout: float = DEFAULT_COMMIT_TIMEOUT
    # Seconds a read or watch waits for a min_revision / start_revision not applied yet.
    min_revision_wait: float = DEFAULT_MIN_REVISION_WAIT
    # /readyz is 503 while a store revision this process noticed has waited longer than this
    # to be applied (it lags the other processes sharing the store).
    max_lag_seconds: float = DEFAULT_MAX_LAG_SECONDS
    # Seconds a client gone (disconnected, or its replica dead) still counts in a release's
    # slice (configd serve --client-timeout).
    client_timeout: float = DEFAULT_CLIENT_TIMEOUT
    # Seconds before a disconnected client's record is deleted (--forget-clients-after).
    forget_clients_after: float = DEFAULT_FORGET_CLIENTS_AFTER
    # Security (configd.auth, configd.server.tls): auth off only by an explicit --no-auth.
    auth: bool = True
    admin_token: str | None = None
    tls: TLSFiles | None = None
    # One worker of `configd serve --workers N`: SO_REUSEPORT on both ports (the supervisor
    # holds them), a status file under run/ and the workers listed in /debug/configz, and
    # /metrics of every worker, this one's labelled worker="<worker_slot>".
    worker: bool = False
    worker_slot: int = 0


class State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class ConfigdServer:
    """One configd process's server. `async with ConfigdServer(config) as server: ...`"""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        # configd.storage.open chooses the backend; everything else sees its Protocols.
        self.backend = open_backend(config.store, config.data_dir, config.sqlite, config.postgresql)
        self._storage = self.backend.storage
        self.service = ConfigService(
            self._storage,
            config.limits,
            commit_timeout=config.commit_timeout,
            min_revision_wait=config.min_revision_wait,
        )
        self.hub: WatchHub | None = None
        self._compactor: Compactor | None = None
        self._grpc: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._http: HttpListener | None = None
        self._state = State.NEW
        self.grpc_address = ""
        self.http_address = ""
        self.metrics: ServerMetrics | None = None
        self._ready = False
        self._started = time.monotonic()
        self._reload_hooks: list[Callable[[], None]] = []
        self.tokens = TokenRegistry(self.backend.tokens)
        self.admin_token_file: Path | None = None
        self.tls = ServerTLS(config.tls) if config.tls is not None else None
        if self.tls is not None:
            self.add_reload_hook(self.tls.reload)
        self._private_dir: Path | None = None
        self._gateway_socket: Path | None = None
        self._gateway_target = ""
        self._status: StatusFile | None = None
        self._worker_metrics: WorkerMetrics | None = None
        self.clients: ClientRegistry | None = None
        self.releases: Releases | None = None

    async def __aenter__(self) -> ConfigdServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._state is not State.NEW:
            raise RuntimeError(f"server is {self._state.value}; create a new one to start")
        self._state = State.RUNNING
        try:
            # Bind both listeners before the data directory is created or opened: a taken
            # port must leave a new data directory uncreated and an old one untouched.
            http_socket = _bind_http(self.config.http_listen, reuse_port=self.config.worker)
            try:
                self._grpc = self._bind_grpc()
            except BaseException:
                http_socket.close()
                raise
            self._make_runtime_dir()
            await self.service.open()
            _tune_gc()
            await self._open_auth()
            # Committed change sets reach the hub through the service's feed; catch-up reads
            # history from storage.
            self.hub = WatchHub(
                self.service,
                self._storage,
                ProtoEncoder(),
                limits=self.config.limits,
                options=self.config.watch,
            )
            # The store went back in time: watchers resync elsewhere or after a restart.
            hub = self.hub
            self.service.regression.subscribe(lambda _: hub.fail(self.service.regression.check))
            self.clients = ClientRegistry(
                self.backend.clients,
                self._replica_name(),
                self.config.limits,
                client_timeout=self.config.client_timeout,
            )
            self.clients.start()
            self.metrics = ServerMetrics(self.service, self.hub, self._storage, self.clients)
            exposition = self.metrics.exposition
            if self.config.worker:
                self._worker_metrics = WorkerMetrics(
                    self.metrics.registry, self.config.data_dir, self.config.worker_slot
                )
                exposition = self._worker_metrics.exposition
            self._compactor = Compactor(self.service, self.config.retention)
            self._compactor.start()
            self.releases = Releases(
                self.service,
                self.backend.clients,
                self.clients,
                forget_clients_after=self.config.forget_clients_after,
            )
            self.releases.start()
            await self._start_grpc(self.hub)
            self._http = HttpListener(
                self.service,
                grpc_target=self._gateway_target or self.grpc_address,
                cors_origins=self.config.cors_origins,
            )
            status.add_routes(
                self._http.app,
                metrics=exposition,
                ready=self.readiness,
                configz=self.configz,
            )
            await self._http.start(
                http_socket,
                ssl_context=self.tls.ssl_context() if self.tls is not None else None,
            )
            http_host = self.config.http_listen.rpartition(":")[0]
            self.http_address = f"{http_host or '0.0.0.0'}:{http_socket.getsockname()[1]}"
            if self.config.worker:
                self._status = StatusFile(
                    self.config.data_dir,
                    self.config.worker_slot,
                    lambda: self.service.revision,
                    lambda: self.service.maintainer,
                )
                self._status.start()
            if self._worker_metrics is not None:
                self._worker_metrics.start()
        except BaseException:
            await self.stop()
            raise
        for name in (*SERVICE_NAMES, ""):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._ready = True

    @property
    def ready(self) -> bool:
        """Storage open and gRPC serving; False from the moment a stop begins."""
        return self._ready and self._state is State.RUNNING

    def readiness(self) -> status.Readiness:
        """/readyz: serving, not stopping, the store not behind this process (regressed),
        answering (not failing for longer than max_lag_seconds), and not lagging it past
        max_lag_seconds."""
        if not self.ready:
            return status.Readiness(False, "starting or stopping")
        follower = self.service.follower
        if follower.fallen_behind.is_set():
            return status.Readiness(False, follower.fallen_behind_reason)
        regressed = self.service.regression.error
        if regressed is not None:
            return status.Readiness(
                False,
                regressed.detail,
                {
                    "applied_revision": regressed.applied,
                    "store_revision": regressed.store_revision,
                },
            )
        lag = follower.lag()
        failing = (
            0.0 if follower.failing_since is None else time.monotonic() - follower.failing_since
        )
        details = {
            "store": self.backend.name,
            "applied_revision": lag.applied,
            "store_revision": lag.store,
            "lag_seconds": round(lag.seconds, 3),
        }
        if failing > self.config.max_lag_seconds:
            # Cut off from the store (a partition): what it serves may be stale by now.
            reason = (
                f"the store has not answered for {failing:.1f} s (more than --max-lag-seconds "
                f"{self.config.max_lag_seconds:g}): {follower.last_failure}"
            )
            return status.Readiness(False, reason, details)
        if lag.seconds > self.config.max_lag_seconds:
            reason = (
                f"lagging: applied {lag.applied}, store at {lag.store} for {lag.seconds:.1f} s "
                f"(more than --max-lag-seconds {self.config.max_lag_seconds:g})"
            )
            return status.Readiness(False, reason, details)
        return status.Readiness(True, "", details)

    @property
    def fallen_behind(self) -> asyncio.Event:
        """Set when this process cannot follow the store any more (its history was
        compacted away): `configd serve` then stops with an error, to be started again."""
        return self.service.follower.fallen_behind

    def configz(self) -> Mapping[str, Any]:
        """What /debug/configz shows an operator."""
        hub = self.hub
        page: dict[str, Any] = {
            "version": __version__,
            "pid": os.getpid(),
            "uptime_seconds": round(time.monotonic() - self._started, 3),
            "state": self._state.value,
            "ready": self.ready,
            "revision": self.service.revision,
            "compact_revision": self.service.compact_revision,
            "maintainer": self.service.maintainer,
            "namespaces": len(self.service.namespaces),
            "watchers": hub.watcher_count if hub is not None else 0,
            "data_dir": str(self.config.data_dir.resolve()),
            "grpc_address": self.grpc_address,
            "http_address": self.http_address,
            "log_level": logging.getLevelName(logging.getLogger().level).lower(),
            "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
            "limits": dataclasses.asdict(self.config.limits),
            "watch": dataclasses.asdict(self.config.watch),
            "retention": dataclasses.asdict(self.config.retention),
            "max_lag_seconds": self.config.max_lag_seconds,
            # The password of a DSN is masked (Backend.where).
            "store": {"backend": self.backend.name, "where": self.backend.where},
        }
        if self.backend.name == "sqlite":
            page["sqlite"] = {
                "synchronous": self.config.sqlite.synchronous.value.lower(),
                "busy_timeout_ms": self.config.sqlite.busy_timeout_ms,
            }
        if self.config.worker:
            # "pid" and "worker" (its slot) are the worker that answered; "workers" all live
            # ones of this data dir.
            page["worker"] = self.config.worker_slot
            page["workers"] = read_all(self.config.data_dir)
        return page

    def add_reload_hook(self, hook: Callable[[], None]) -> None:
        """Run `hook` on every reload (SIGHUP): log level, TLS certificates, ..."""
        self._reload_hooks.append(hook)

    def reload(self) -> None:
        """Run every reload hook; one failing hook is logged and does not stop the others."""
        log.info("reloading (%d hooks)", len(self._reload_hooks))
        for hook in self._reload_hooks:
            try:
                hook()
            except Exception:
                log.exception("reload hook %r failed", hook)

    def _replica_name(self) -> str:
        """How `configctl clients` names this process: host:port, and the worker slot."""
        port = self.grpc_address.rpartition(":")[2]
        name = f"{socket.gethostname()}:{port}"
        return f"{name}/worker-{self.config.worker_slot}" if self.config.worker else name

    async def _open_auth(self) -> None:
        await self.tokens.open()
        if not self.config.auth:
            log.warning(
                "authentication is OFF (--no-auth): anyone who can reach %s and %s can read "
                "and change every namespace; use it only on loopback",
                self.config.listen,
                self.config.http_listen,
            )
            return
        self.admin_token_file = await self.tokens.bootstrap(
            self.config.data_dir, self.config.admin_token
        )

    def _bind_grpc(self) -> grpc.aio.Server:
        """The gRPC server with its public port bound (TLS if configured), not yet started."""
        limits = self.config.limits
        if not self.config.worker:  # a worker's port is held by its supervisor (SO_REUSEPORT)
            _probe_grpc(self.config.listen)
        server = grpc.aio.server(
            options=[
                # Over max_request_bytes is refused by api.decoding, naming the limit; this
                # hard cap only bounds what is read before that check.
                ("grpc.max_receive_message_length", 2 * limits.max_request_bytes),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 1 if self.config.worker else 0),
                # channelz keeps per-connection bookkeeping nobody here reads (~0.5 KiB/watcher).
                ("grpc.enable_channelz", 0),
            ],
        )
        try:
            if self.tls is None:
                bound = int(server.add_insecure_port(self.config.listen))
            else:
                credentials = self.tls.grpc_credentials()
                bound = int(server.add_secure_port(self.config.listen, credentials))
        except RuntimeError as exc:
            raise ListenFailure("grpc", self.config.listen, str(exc)) from exc
        if bound == 0:
            raise ListenFailure("grpc", self.config.listen, "the address is in use or invalid")
        host = self.config.listen.rpartition(":")[0]
        self.grpc_address = f"{host or '0.0.0.0'}:{bound}"
        return server

    def _make_runtime_dir(self) -> None:
        """--data-dir: SQLite creates it with its database; with --store it is only the
        local runtime directory (run/ sockets, worker status files), made here."""
        try:
            self.config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageFailure(
                f"cannot create data directory {self.config.data_dir}: {exc.strerror}"
            ) from exc

    def _add_gateway_port(self, server: grpc.aio.Server) -> None:
        """With TLS, the gRPC-Web gateway reaches the server over a Unix socket in a private
        (0700) directory instead, so it needs no client certificate; tokens are still checked
        on every call. A worker does the same, so its gateway reaches itself, not whichever
        worker the shared port picks. Added once the data directory is open, before the
        server starts."""
        self._gateway_target = ""
        if self.tls is None and not self.config.worker:
            return
        private = self.config.data_dir / "run"
        if len(str(private.resolve())) > 90:  # Unix socket paths are limited to ~107 bytes
            private = Path(tempfile.mkdtemp(prefix="configd-"))
        private.mkdir(mode=0o700, exist_ok=True)
        private.chmod(0o700)
        self._private_dir = private
        # One socket per process: replicas may share the data directory.
        socket_path = private.resolve() / f"grpc-{os.getpid()}.sock"
        socket_path.unlink(missing_ok=True)  # left by a killed server with this pid
        target = f"unix:{socket_path}"
        if server.add_insecure_port(target) == 0:
            raise StorageFailure(f"cannot listen on {target} for the gRPC-Web gateway")
        self._gateway_target = target
        self._gateway_socket = socket_path

    async def _start_grpc(self, hub: WatchHub) -> None:
        server = self._grpc
        assert server is not None, "_bind_grpc runs first"
        limits = self.config.limits
        assert self.releases is not None
        assert self.clients is not None
        admin = AdminServicer(
            self.service,
            hub,
            data_dir=str(self.config.data_dir),
            started=time.monotonic(),
            storage=self._storage,
            tokens=TokenServicer(self.tokens, limits),
        )
        requests = self.metrics.requests if self.metrics is not None else None
        guard = Guard(self.tokens, limits, hub) if self.config.auth else None
        checks: dict[str, Any] = {"guard": guard, "max_request_bytes": limits.max_request_bytes}
        server.add_generic_rpc_handlers(
            (
                generic_handler(
                    ConfigServicer(self.service, hub, self.clients),
                    CONFIG_SERVICE,
                    requests,
                    **checks,
                ),
                generic_handler(admin, ADMIN_SERVICE, requests, **checks),
                generic_handler(
                    ReleaseServicer(self.service, self.releases, self.clients),
                    RELEASE_SERVICE,
                    requests,
                    **checks,
                ),
            )
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        self._add_gateway_port(server)
        await server.start()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting calls, let in-flight ones finish (up to `grace` s), close storage."""
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        self._ready = False
        if self._status is not None:
            await self._status.close()
        if self._worker_metrics is not None:
            await self._worker_metrics.close()
        await self._health.enter_graceful_shutdown()
        if self._compactor is not None:
            await self._compactor.stop()
        if self.releases is not None:
            await self.releases.close()
        if self.hub is not None:
            self.hub.close()
        if self._http is not None:
            await self._http.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace)
        if self.clients is not None:
            await self.clients.close()
        await self.tokens.close()
        await self.service.close()
        if self._gateway_socket is not None:
            self._gateway_socket.unlink(missing_ok=True)
        if self._private_dir is not None and self._private_dir != self.config.data_dir / "run":
            shutil.rmtree(self._private_dir, ignore_errors=True)  # a temporary directory
