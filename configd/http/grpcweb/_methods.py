"""Which RPCs the gateway forwards, and of which kind, read from the services' descriptors.

The method table is built from the generated code, so a new RPC in the protos is served over
gRPC-Web without touching this package.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grpc_health.v1 import health_pb2

from configd_client.wire import admin_pb2, config_pb2, release_pb2

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor


class MethodKind(enum.Enum):
    UNARY = "unary"
    SERVER_STREAMING = "server-streaming"
    CLIENT_STREAMING = "client-streaming"
    BIDI_STREAMING = "bidi-streaming"


@dataclass(frozen=True, slots=True)
class Method:
    path: str
    kind: MethodKind


def _kind(client_streaming: bool, server_streaming: bool) -> MethodKind:
    if client_streaming and server_streaming:
        return MethodKind.BIDI_STREAMING
    if client_streaming:
        return MethodKind.CLIENT_STREAMING
    if server_streaming:
        return MethodKind.SERVER_STREAMING
    return MethodKind.UNARY


def methods_of(services: Iterable[ServiceDescriptor]) -> dict[str, Method]:
    table: dict[str, Method] = {}
    for service in services:
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            table[path] = Method(path, _kind(method.client_streaming, method.server_streaming))
    return table


def _services(files: Iterable[FileDescriptor]) -> list[ServiceDescriptor]:
    return [service for file in files for service in file.services_by_name.values()]


def default_methods() -> Mapping[str, Method]:
    """configd's public services and the standard health service."""
    return methods_of(
        _services(
            [
                config_pb2.DESCRIPTOR,
                admin_pb2.DESCRIPTOR,
                release_pb2.DESCRIPTOR,
                health_pb2.DESCRIPTOR,
            ]
        )
    )
