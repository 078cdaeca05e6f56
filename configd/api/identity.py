"""Who is calling: set by the auth layer for each call, read where writes record an author."""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable

ANONYMOUS = "anonymous"

caller: contextvars.ContextVar[str] = contextvars.ContextVar("configd_caller", default=ANONYMOUS)


def author() -> str:
    """The identity recorded as a write's author."""
    return caller.get()


@dataclasses.dataclass(frozen=True, slots=True)
class StreamGuard:
    """Set by the auth layer for a stream: whose it is, and the check that ends it (raising
    Unauthenticated) once the token is revoked or expired. None when auth is off."""

    owner: str
    check: Callable[[], None]


stream_guard: contextvars.ContextVar[StreamGuard | None] = contextvars.ContextVar(
    "configd_stream_guard", default=None
)
