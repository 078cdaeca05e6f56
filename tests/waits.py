"""Waiting in tests: the bound of the read-your-writes server fixture (`short_wait_server` in
conftest.py), and polling for a condition on an event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

MIN_REVISION_WAIT = 3.0  # its --min-revision-wait, seconds


async def until_async(condition: Callable[[], bool], what: str, deadline: float) -> None:
    """Return once `condition()` holds (it must not block); fail naming `what` after
    `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        await asyncio.sleep(0.005)
