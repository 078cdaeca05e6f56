"""Registering servicers from their service descriptors.

Like the generated add_*_to_server, except that (1) every method is wrapped once in the error
translation (api.errors), and (2) responses may be bytes that are already encoded: the watch
hub encodes a change set once and every watcher sends the same bytes.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from configd.api.errors import translating_errors


def _serialize(message: Message | bytes) -> bytes:
    if isinstance(message, bytes):
        return message
    return message.SerializeToString()


def generic_handler(servicer: Any, service: ServiceDescriptor) -> Any:
    """The servicer's methods, each wrapped once in the error translation."""
    handlers: dict[str, Any] = {}
    for method in service.methods:
        behavior = getattr(servicer, method.name)
        request_type = GetMessageClass(method.input_type)
        if method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                behavior,
                request_deserializer=request_type.FromString,
                response_serializer=_serialize,
            )
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                behavior,
                request_deserializer=request_type.FromString,
                response_serializer=_serialize,
            )
    return grpc.method_handlers_generic_handler(
        service.full_name,
        {
            name: translating_errors(handler, f"/{service.full_name}/{name}")
            for name, handler in handlers.items()
        },
    )
