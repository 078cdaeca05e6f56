"""gRPC-Web on configd's HTTP listener, forwarding every call to configd's own gRPC server.

Browsers speak gRPC-Web (unary and server-streaming, binary or base64 text); each call is
forwarded as raw bytes over a loopback channel, so auth, limits, validation and metrics are
the gRPC server's, applied once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from configd.http.grpcweb._gateway import add_gateway_routes

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiohttp import web

__all__ = ["add_routes"]


def add_routes(app: web.Application, *, grpc_target: str, cors_origins: Sequence[str]) -> None:
    """Serve gRPC-Web at `/<package.Service>/<Method>`, forwarding to `grpc_target`.

    `cors_origins` lists the browser origins (scheme://host:port, or `*`) allowed to call from
    other sites; pages served by configd itself are same-origin and always allowed.
    """
    add_gateway_routes(app, grpc_target=grpc_target, cors_origins=cors_origins)
