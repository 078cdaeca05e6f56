"""Retrying calls: the SDK's one rule for when a failed unary call may simply be sent again.

A read changes nothing, so sending it again is always safe. A write is safe to send again
because it carries a client request id (`request_id`, a fresh uuid4 per write, kept across
its attempts): a retry of a write that did commit is answered with its original revision and
stores nothing (configd.core.requests on the server). What matters is which failures a second
attempt can cure. Two can, both seen when a replica stops (`configd serve --workers N`
replacing its workers, a restart, a load balancer moving a connection):

- UNAVAILABLE from the transport or from a stopping server (plain `Unavailable`): the
  connection was lost or refused, or the server was shutting down; the next attempt reconnects,
  to the next replica when `addr` lists several (configd_client._replicas decides which).
  Not `RevisionNotApplied` (the server already waited its bound for min_revision; the caller
  decides) nor `StorageFailure`.
- For a write also the outcome-unknown answer of a server whose commit outlasted its deadline,
  and its refusals while that commit is outstanding: both are plain `Unavailable`.
- CANCELLED that the caller did not ask for: a call that reached a server in the instant its
  stop began is cancelled there and was never run. A caller's own cancellation never gets
  here: it arrives as `asyncio.CancelledError` in the caller's task and is not retried.

A request that is neither (AdminService calls: tokens, backup, compaction) is never retried.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from configd_client._backoff import Backoff
from configd_client._replicas import Replicas
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

WRITE_REQUESTS = frozenset(
    {
        "configd.v1.PutRequest",
        "configd.v1.DeleteRequest",
        "configd.v1.TxnRequest",
        "configd.v1.ApplyRequest",
        "configd.v1.RollbackRequest",
        "configd.v1.CreateNamespaceRequest",
        "configd.v1.DeleteNamespaceRequest",
        "configd.v1.SetSchemaRequest",
    }
)
"""The requests of the writes, each with a `request_id` field (by protobuf full name)."""

ATTEMPTS = 4
"""Attempts of one read, the first included: with the backoff below, about 1.5 s of retrying,
enough to outlast a replica's stop and the channel's 200 ms reconnect backoff."""


WRITE_ATTEMPTS = 8
"""Attempts of one write: about 4 s of retrying (within the caller's timeout), enough to outlast
a commit past the server's deadline as well as a replica's stop."""


def is_read(request: Any) -> bool:
    """Whether `request` (a configd.v1 request message) is an idempotent read."""
    return str(request.DESCRIPTOR.full_name) in READ_REQUESTS


def is_write(request: Any) -> bool:
    """Whether `request` is a write, made safe to retry by its request id."""
    return str(request.DESCRIPTOR.full_name) in WRITE_REQUESTS


def new_request_id() -> str:
    """A fresh request id for one write (all its attempts send it)."""
    return uuid.uuid4().hex


async def retry_call(
    request: Any,
    attempt: Callable[[float | None], Awaitable[T]],
    within: float | None,
    *,
    backoff: Backoff | None = None,
    replicas: Replicas | None = None,
) -> T:
    """Send `request` with `attempt(remaining_seconds)` by the one rule: a read is retried, a
    write gets a request id (unless it has one) and is retried with that id, anything else is
    sent once. With `replicas` (the attempt calls on `replicas.channel()`), a retry goes to
    the next replica."""
    if is_write(request):
        if not request.request_id:
            request.request_id = new_request_id()
        return await retry_read(
            attempt, within, attempts=WRITE_ATTEMPTS, backoff=backoff, replicas=replicas
        )
    if is_read(request):
        return await retry_read(attempt, within, backoff=backoff, replicas=replicas)
    return await attempt(within)


def may_retry(exc: grpc.RpcError) -> bool:
    """Whether a read, or a write with its request id, that failed with `exc` may be sent
    again (see the module docstring)."""
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
    replicas: Replicas | None = None,
) -> T:
    """Run `attempt(remaining_seconds)` until it returns, retrying `may_retry` failures after a
    backoff, at most `attempts` times and within `within` seconds in all (None: no bound).
    With `replicas`, each retry goes to the next replica; one not yet failed since the last
    success is tried at once and does not count as an attempt (a dead replica among live ones
    costs a retry, not the backoff). The last failure is raised as it came (a grpc.RpcError)."""
    backoff = backoff or Backoff(0.1, 1.0)
    deadline = None if within is None else time.monotonic() + within
    number = 1
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        channel = replicas.channel() if replicas is not None else None
        try:
            result = await attempt(remaining)
        except grpc.RpcError as exc:
            if not may_retry(exc):
                raise
            if replicas is not None and await replicas.failed(channel):
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if number == attempts:
                raise
            delay = backoff.next()
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise
        else:
            if replicas is not None:
                replicas.succeeded()
            return result
        number += 1
        await asyncio.sleep(delay)
