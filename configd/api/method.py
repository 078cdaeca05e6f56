"""One shape for every RPC behaviour that the API layers wrap.

A servicer method is a coroutine (unary) or returns an async generator (server streaming). The
handlers module turns each generator into a coroutine that writes its messages with
`context.write` (`writing`), so every layer around it (decoding, auth, metrics, error
translation) wraps a plain coroutine of `(request, context)`, and a streamed message passes
through one generator, not one per layer: on a watch fan-out to thousands of streams that
per-message cost is most of what the server spends outside gRPC itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

# types-grpcio types a handler's behaviours as synchronous (iterators); grpc.aio's are
# coroutines, so a handler stays Any here.
Handler: TypeAlias = Any
Behavior: TypeAlias = Callable[[Any, Any], Awaitable[Any]]


def is_streaming(handler: Handler) -> bool:
    return handler.unary_stream is not None


def behavior_of(handler: Handler) -> Behavior:
    """The coroutine behind a unary or (already `writing`) server-streaming handler."""
    if handler.unary_unary is not None:
        return handler.unary_unary  # type: ignore[no-any-return]
    if handler.unary_stream is not None:
        return handler.unary_stream  # type: ignore[no-any-return]
    raise TypeError("only unary and server-streaming methods are supported")


def with_behavior(
    handler: Handler, behavior: Behavior, *, request_deserializer: Any = None
) -> Handler:
    """A handler of the same kind and serializers as `handler`, running `behavior`."""
    make = (
        grpc.unary_stream_rpc_method_handler
        if is_streaming(handler)
        else grpc.unary_unary_rpc_method_handler
    )
    return make(
        behavior,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def writing(stream: Callable[[Any, Any], AsyncGenerator[Any, None]]) -> Behavior:
    """A streaming servicer method as a coroutine that writes each message it yields."""

    async def write_all(request: Any, context: Any) -> None:
        # aclosing: when the call is cancelled during a write, the generator's cleanup (a
        # watcher's unsubscribe) runs now, not whenever the generator is collected.
        async with contextlib.aclosing(stream(request, context)) as messages:
            async for message in messages:
                await context.write(message)

    return write_all
