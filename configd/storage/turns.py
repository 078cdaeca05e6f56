"""Waiting for the write turn (Storage.begin_write_turn), one rule for every backend: try,
and while another process holds it poll with a short backoff until the deadline, then
Unavailable. Polled rather than blocking, so the deadline holds without cancelling a lock
request that may be granted meanwhile; a commit takes a few ms."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from configd.core.errors import Unavailable


async def wait_for_turn(
    try_take: Callable[[], Awaitable[bool]], within: float, *, max_delay: float
) -> None:
    """Return once `try_take()` is True (it takes the turn without waiting)."""
    if await try_take():  # the usual case, and always with one process
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = 0.0005
    while not await try_take():
        if loop.time() > deadline:
            raise Unavailable(
                f"another configd process sharing this store has held the write turn for "
                f"over {within:g} s, so the write was not stored; retry"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
