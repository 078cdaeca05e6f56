"""Registering servicers from their service descriptors.

Like the generated add_*_to_server, except that (1) every method is wrapped once in the error
translation (api.errors) and, when given, the request metrics (inside the translation, so
they see the domain error), and (2) responses may be bytes that are already encoded: the watch
hub encodes a change set once and every watcher sends the same bytes. Streaming methods are
async generators in the servicers; here each becomes a coroutine that writes what it yields
(api.method.writing), so the layers wrap coroutines only.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from configd.api.auth import Guard, announcing_open_access
from configd.api.decoding import checked
from configd.api.errors import translating_errors
from configd.api.method import writing
from configd.api.metrics import RequestMetrics


def _serialize(message: Message | bytes) -> bytes:
    if isinstance(message, bytes):
        return message
    return message.SerializeToString()


def generic_handler(
    servicer: Any,
    service: ServiceDescriptor,
    metrics: RequestMetrics | None = None,
    *,
    guard: Guard | None = None,
    max_request_bytes: int | None = None,
) -> Any:
    """The servicer's methods, each wrapped once in the error translation (and metrics).

    Inside that, when given: the access checks (api.auth), then request decoding that turns
    undecodable or oversized requests into domain errors (api.decoding)."""
    handlers: dict[str, Any] = {}
    for method in service.methods:
        behavior = getattr(servicer, method.name)
        request_type = GetMessageClass(method.input_type)
        if method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                writing(behavior),
                request_deserializer=request_type.FromString,
                response_serializer=_serialize,
            )
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                behavior,
                request_deserializer=request_type.FromString,
                response_serializer=_serialize,
            )
        if max_request_bytes is not None:
            handlers[method.name] = checked(handlers[method.name], max_request_bytes)
        if guard is not None:
            handlers[method.name] = guard.wrap(
                handlers[method.name], f"/{service.full_name}/{method.name}"
            )
        else:
            handlers[method.name] = announcing_open_access(handlers[method.name])
    return grpc.method_handlers_generic_handler(
        service.full_name,
        {
            name: translating_errors(
                metrics.instrument(handler, f"{service.name}/{name}")
                if metrics is not None
                else handler,
                f"/{service.full_name}/{name}",
            )
            for name, handler in handlers.items()
        },
    )
