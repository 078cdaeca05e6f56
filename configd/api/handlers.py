"""Registering servicers from their service descriptors: one frame per call.

Like the generated add_*_to_server, except that (1) each method runs inside one coroutine,
`_frame`, that applies the per-call rules in order, each a function of its own module: the
access checks and rate limits (api.auth; without a Guard, the open-access announcement), the
decoding marker (api.decoding), the request metrics (api.metrics, which see the domain error
before it is translated) and the error translation (api.errors); and (2) responses may be
bytes that are already encoded: the watch hub encodes a change set once and every watcher
sends the same bytes. Streaming methods are async generators in the servicers; here each
becomes a coroutine that writes what it yields (api.method.writing).

One frame instead of a wrapper per rule: each wrapper was a coroutine of its own that every
call created and every resumption passed through (see the README's performance section).
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import grpc.aio
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from configd.api.auth import Access, Guard, access_for, announce_open_access
from configd.api.decoding import decoded, deserializer
from configd.api.errors import abort
from configd.api.method import Behavior, writing
from configd.api.metrics import RequestMetrics
from configd.store.tokens import Token


def _serialize(message: Message | bytes) -> bytes:
    if isinstance(message, bytes):
        return message
    return message.SerializeToString()


def _frame(
    behavior: Behavior,
    path: str,
    name: str,
    metrics: RequestMetrics | None,
    guard: Guard | None,
    access: Access,
    *,
    streaming: bool,
) -> Behavior:
    """The coroutine grpc runs for each call of the method at `path` ("/Service/Method");
    `name` ("Service/Method") labels its metrics."""
    watch = streaming and path.endswith("/Watch")  # not Backup: no watcher count
    listing = access.listing
    clock = time.perf_counter

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        started = clock()
        try:
            if guard is None:
                announce_open_access(context)
                response = await behavior(decoded(request), context)
            else:
                found = guard.token(context)
                token = found if isinstance(found, Token) else await found
                guard.admit(request, token, access)
                request = decoded(request)
                if watch:
                    async with guard.watching(token):
                        response = await behavior(request, context)
                else:
                    response = await behavior(request, context)
                    if listing:
                        response = guard.filter(token, response)
        except BaseException as exc:
            if metrics is not None:
                elapsed = None if streaming else clock() - started
                metrics.observe(name, metrics.code_of(name, exc, context), elapsed)
            if isinstance(exc, Exception) and not isinstance(exc, grpc.aio.AbortError):
                await abort(context, exc, path)
            raise
        if metrics is not None:
            metrics.observe(name, "OK", None if streaming else clock() - started)
        return response

    return call


def generic_handler(
    servicer: Any,
    service: ServiceDescriptor,
    metrics: RequestMetrics | None = None,
    *,
    guard: Guard | None = None,
    max_request_bytes: int | None = None,
) -> Any:
    """The servicer's methods, each run in one frame per call (`_frame`). With
    `max_request_bytes`, the deserializer never raises (api.decoding)."""
    handlers: dict[str, Any] = {}
    for method in service.methods:
        parse = GetMessageClass(method.input_type).FromString
        request_deserializer = (
            parse if max_request_bytes is None else deserializer(parse, max_request_bytes)
        )
        path = f"/{service.full_name}/{method.name}"
        behavior = getattr(servicer, method.name)
        streaming = method.server_streaming
        call = _frame(
            writing(behavior) if streaming else behavior,
            path,
            f"{service.name}/{method.name}",
            metrics,
            guard,
            access_for(path),
            streaming=streaming,
        )
        make = (
            grpc.unary_stream_rpc_method_handler
            if streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            call, request_deserializer=request_deserializer, response_serializer=_serialize
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)
