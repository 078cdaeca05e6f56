"""Who is calling: set by the auth layer for each call, read where writes record an author."""

from __future__ import annotations

import contextvars

ANONYMOUS = "anonymous"

caller: contextvars.ContextVar[str] = contextvars.ContextVar("configd_caller", default=ANONYMOUS)


def author() -> str:
    """The identity recorded as a write's author."""
    return caller.get()
