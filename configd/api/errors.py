"""The one translation of errors to gRPC statuses, wrapped around every configd RPC.

Domain errors (ConfigdError) carry their status code and become a rich google.rpc.Status;
anything else is a bug: it is logged with an id and answered INTERNAL with that id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
import grpc.aio

from configd.errors import ConfigdError
from configd_client._status import to_grpc_status

log = logging.getLogger("configd.api")

# grpc ships no type information.
Handler: TypeAlias = Any


def status_for(exc: BaseException) -> grpc.Status | None:
    """The status a failed handler answers with (None for cancellation/abort, already final)."""
    if isinstance(exc, ConfigdError):
        return to_grpc_status(exc)
    return None


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: Exception, method: str) -> None:
    if isinstance(exc, ConfigdError):
        await context.abort_with_status(to_grpc_status(exc))
    incident = uuid.uuid4().hex[:12]
    log.error("internal error in %s (incident %s)", method, incident, exc_info=exc)
    await context.abort(
        grpc.StatusCode.INTERNAL,
        f"configd: internal error (incident {incident}); the server log has the details",
    )


def _wrap_unary(
    behavior: Callable[..., Awaitable[Any]], method: str
) -> Callable[..., Awaitable[Any]]:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return handler


def _wrap_stream(
    behavior: Callable[..., AsyncIterator[Any]], method: str
) -> Callable[..., AsyncIterator[Any]]:
    async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            async for response in behavior(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return handler


def translating_errors(handler: Handler, method: str) -> Handler:
    """`handler` with every exception turned into its status (applied once per method)."""
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(handler.unary_unary, method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _wrap_stream(handler.unary_stream, method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    raise TypeError(f"{method}: only unary and server-streaming methods are supported")
