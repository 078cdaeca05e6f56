"""The HTTP listener: health, metrics, gRPC-Web and the console, on one aiohttp app."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence

from aiohttp import web

from configd.http import console, grpcweb
from configd.store.service import ConfigService


class HttpListener:
    def __init__(
        self, service: ConfigService, *, grpc_target: str, cors_origins: Sequence[str]
    ) -> None:
        self._service = service
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.grpc_target = grpc_target
        self.cors_origins = tuple(cors_origins)
        grpcweb.add_routes(self.app, grpc_target=grpc_target, cors_origins=self.cors_origins)
        console.add_routes(self.app)
        self._runner: web.AppRunner | None = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "revision": self._service.revision})

    async def start(
        self, sock: socket.socket, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        """Serve on `sock`, already bound and listening (bound before the data directory is
        opened). With `ssl_context` it serves HTTPS (configd.server.tls)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.SockSite(self._runner, sock, ssl_context=ssl_context)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
