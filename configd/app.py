"""Assembling and running a configd server: storage, service, gRPC and HTTP listeners."""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from configd.api.admin_servicer import AdminServicer
from configd.api.config_servicer import ConfigServicer
from configd.api.handlers import generic_handler
from configd.api.watch_encoding import ProtoEncoder
from configd.compactor import Compactor, Retention
from configd.errors import StorageFailure
from configd.http_app import HttpListener
from configd.limits import Limits
from configd.service import ConfigService
from configd.storage.sqlite import SQLiteOptions, SQLiteStorage
from configd.watch import WatchHub, WatchOptions
from configd_client._proto.configd.v1 import admin_pb2, config_pb2

log = logging.getLogger("configd")

CONFIG_SERVICE = config_pb2.DESCRIPTOR.services_by_name["ConfigService"]
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
SERVICE_NAMES = (CONFIG_SERVICE.full_name, ADMIN_SERVICE.full_name)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path = Path("data")
    listen: str = "127.0.0.1:7700"
    http_listen: str = "127.0.0.1:7701"
    limits: Limits = field(default_factory=Limits)
    sqlite: SQLiteOptions = field(default_factory=SQLiteOptions)
    cors_origins: tuple[str, ...] = ()
    watch: WatchOptions = field(default_factory=WatchOptions)
    retention: Retention = field(default_factory=Retention)


class State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class ConfigdServer:
    """One configd process's server. `async with ConfigdServer(config) as server: ...`"""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.service = ConfigService(SQLiteStorage(config.data_dir, config.sqlite), config.limits)
        self.hub: WatchHub | None = None
        self._compactor: Compactor | None = None
        self._grpc: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._http: HttpListener | None = None
        self._state = State.NEW
        self.grpc_address = ""
        self.http_address = ""

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
            await self.service.open()
            self.hub = WatchHub(self.service, ProtoEncoder(), self.config.watch)
            self._compactor = Compactor(self.service, self.config.retention)
            self._compactor.start()
            await self._start_grpc(self.hub)
            self._http = HttpListener(
                self.service,
                grpc_target=self.grpc_address,
                cors_origins=self.config.cors_origins,
            )
            self.http_address = await self._http.start(self.config.http_listen)
        except BaseException:
            await self.stop()
            raise
        for name in (*SERVICE_NAMES, ""):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def _start_grpc(self, hub: WatchHub) -> None:
        limits = self.config.limits
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limits.max_request_bytes),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
        )
        admin = AdminServicer(
            self.service, hub, data_dir=str(self.config.data_dir), started=time.monotonic()
        )
        server.add_generic_rpc_handlers(
            (
                generic_handler(ConfigServicer(self.service, hub), CONFIG_SERVICE),
                generic_handler(admin, ADMIN_SERVICE),
            )
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        host = self.config.listen.rpartition(":")[0]
        try:
            bound = server.add_insecure_port(self.config.listen)
        except RuntimeError as exc:
            raise StorageFailure(f"cannot listen on {self.config.listen}: {exc}") from exc
        if bound == 0:
            raise StorageFailure(
                f"cannot listen on {self.config.listen}: the address is in use or invalid"
            )
        self.grpc_address = f"{host or '0.0.0.0'}:{bound}"
        self._grpc = server
        await server.start()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting calls, let in-flight ones finish (up to `grace` s), close storage."""
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        await self._health.enter_graceful_shutdown()
        if self._compactor is not None:
            await self._compactor.stop()
        if self.hub is not None:
            self.hub.close()
        if self._http is not None:
            await self._http.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace)
        await self.service.close()
