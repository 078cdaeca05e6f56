"""Retrying reads: the SDK's one rule for when a failed unary call may simply be sent again.

A read changes nothing, so sending it again is always safe; what matters is which failures a
second attempt can cure. Two can, both seen when a replica stops (`configd serve --workers N`
replacing its workers, a restart, a load balancer moving a connection):

- UNAVAILABLE from the transport or from a stopping server (plain `Unavailable`): the
  connection was lost or refused, or the server was shutting down; the next attempt reconnects,
  possibly to another replica. Not `RevisionNotApplied` (the server already waited its bound
  for min_revision; the caller decides) nor `StorageFailure`.
- CANCELLED that the caller did not ask for: a call that reached a server in the instant its
  stop began is cancelled there and was never run. A caller's own cancellation never gets
  here: it arrives as `asyncio.CancelledError` in the caller's task and is not retried.

Writes are never retried here: the server has no client request id yet, so a write whose
answer was lost may have committed, and sending it again could apply it twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from configd_client._backoff import Backoff
from configd_client.errors import Unavailable
from configd_client.wire.status import from_rpc_error

T = TypeVar("T")

READ_REQUESTS = frozenset(
    {
        "configd.v1.GetRequest",
        "configd.v1.GetNamespaceRequest",
        "configd.v1.ListNamespacesRequest",
        "configd.v1.GetSchemaRequest",
        "configd.v1.HistoryRequest",
    }
)
"""The requests of the idempotent reads (by protobuf full name)."""

ATTEMPTS = 4
"""Attempts of one read, the first included: with the backoff below, about 1.5 s of retrying,
enough to outlast a replica's stop and the channel's 200 ms reconnect backoff."""


def is_read(request: Any) -> bool:
    """Whether `request` (a configd.v1 request message) is an idempotent read."""
    return str(request.DESCRIPTOR.full_name) in READ_REQUESTS


def may_retry(exc: grpc.RpcError) -> bool:
    """Whether a read that failed with `exc` may be sent again (see the module docstring)."""
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    if code is grpc.StatusCode.CANCELLED:
        return True
    # Not DEADLINE_EXCEEDED (the caller's time is up), though it reads as Unavailable too.
    return code is grpc.StatusCode.UNAVAILABLE and type(from_rpc_error(exc)) is Unavailable


async def retry_read(
    attempt: Callable[[float | None], Awaitable[T]],
    within: float | None,
    *,
    attempts: int = ATTEMPTS,
    backoff: Backoff | None = None,
) -> T:
    """Run `attempt(remaining_seconds)` until it returns, retrying `may_retry` failures after a
    backoff, at most `attempts` times and within `within` seconds in all (None: no bound).
    The last failure is raised as it came (a grpc.RpcError)."""
    backoff = backoff or Backoff(0.1, 1.0)
    deadline = None if within is None else time.monotonic() + within
    for number in range(1, attempts + 1):
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return await attempt(remaining)
        except grpc.RpcError as exc:
            if number == attempts or not may_retry(exc):
                raise
            delay = backoff.next()
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
