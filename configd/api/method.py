"""One shape for every RPC behaviour that api.handlers runs in its one frame per call.

A servicer method is a coroutine (unary) or returns an async generator (server streaming). The
handlers module turns each generator into a coroutine that writes its messages with
`context.write` (`writing`), so the frame around it (decoding, auth, metrics, error
translation) awaits a plain coroutine of `(request, context)`, and a streamed message passes
through one generator: on a watch fan-out to thousands of streams that per-message cost is
most of what the server spends outside gRPC itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeAlias

Behavior: TypeAlias = Callable[[Any, Any], Awaitable[Any]]


def writing(stream: Callable[[Any, Any], AsyncGenerator[Any, None]]) -> Behavior:
    """A streaming servicer method as a coroutine that writes each message it yields."""

    async def write_all(request: Any, context: Any) -> None:
        # aclosing: when the call is cancelled during a write, the generator's cleanup (a
        # watcher's unsubscribe) runs now, not whenever the generator is collected.
        async with contextlib.aclosing(stream(request, context)) as messages:
            async for message in messages:
                await context.write(message)

    return write_all
