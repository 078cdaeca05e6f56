"""WatchStream: the Watch RPC as one endless stream of messages, across reconnects.

The one implementation of resume and backoff: AsyncConfigClient keeps its snapshot from it and
`configctl watch` prints from it. After a lost connection it waits (exponential backoff with
jitter), opens a new channel and resumes with `start_revision = last revision seen + 1` and no
snapshot, so by the watch contract the server replays exactly the missed change sets: no gap,
no duplicate. A silent stream (no progress within `idle_timeout`) counts as lost. With several
replicas (Replicas), a lost stream resumes on the next one, at once when that one has not
failed since the stream last received; revisions are global, so the resume is the same.

A snapshot is never asked of an older state than the stream already has: it sends
`min_revision` = the highest revision delivered (or, before any, `min_revision` given: a
cache's), so a replica that lags waits until it has caught up. If that revision is refused
as not applied twice in a row (each after the server's bound: the store was restored from an
older backup, or it is another store), later snapshots are asked without it: the server's
state is the truth, however old. A stream ended with StoreRegressed (the server's store lost
revisions the stream may have seen) never resumes: the next connection asks for a fresh
snapshot with no floor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self

import grpc
import grpc.aio

from configd_client._backoff import Backoff
from configd_client._channel import ConnectOptions
from configd_client._replicas import Replicas
from configd_client.errors import (
    ConfigdError,
    PermissionDenied,
    RevisionNotApplied,
    StoreRegressed,
    Unauthenticated,
    Unavailable,
)
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from configd_client.wire.status import from_rpc_error

RetryPolicy = Callable[[ConfigdError, bool], bool]
"""retry(error, received) -> whether to reconnect after a connection ended with `error`;
`received` says whether that connection delivered any message. False ends the iteration by
raising `error`."""

_CREDENTIAL_ERRORS = (Unauthenticated, PermissionDenied)
_LOGGER = logging.getLogger("configd_client")
FLOOR_REFUSALS = 2
"""Refusals in a row of a snapshot's min_revision after which it is asked without one."""


def _always(error: ConfigdError, received: bool) -> bool:
    return True


class WatchStream:
    """Watch messages (`configd.v1.WatchResponse`) for a selection, resumed after each loss.

    Use as `async with WatchStream(ConnectOptions(...), namespaces=["a/b"]) as stream:` then
    `async for message in stream:`. The first connection asks for `start_revision` (0: now)
    and a snapshot if `send_snapshot`; every later one resumes after `revision`, the highest
    revision the stream has delivered (a snapshot's revision replaces it). Each connection is
    a new channel, so a restarted server is found as soon as the backoff allows. `retry`
    decides which losses to survive (default: all). Reconnect delays double from
    `backoff_initial` to `backoff_max` seconds, with jitter; errors that retrying soon cannot
    fix (bad credentials) wait the longest.
    """

    def __init__(
        self,
        connect: ConnectOptions,
        *,
        namespaces: Iterable[str] = (),
        prefixes: Iterable[str] = (),
        start_revision: int = 0,
        send_snapshot: bool = True,
        min_revision: int = 0,
        idle_timeout: float = 30.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 5.0,
        retry: RetryPolicy = _always,
        client: tuple[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._connect = connect
        # (client id, labels): who watches, sent on every connection (releases, acks).
        self._client = client
        self._namespaces = tuple(namespaces)
        self._prefixes = tuple(prefixes)
        self._start_revision = start_revision
        self._send_snapshot = send_snapshot
        self._min_revision = min_revision  # the lowest state a first snapshot may be of
        self._floor_refusals = 0  # of the floor, in a row; at FLOOR_REFUSALS it is dropped
        self._idle_timeout = idle_timeout
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._retry = retry
        self._revision = start_revision - 1 if start_revision > 0 else 0
        self._resuming = False  # True once a snapshot or a start revision pins where we are
        self._replicas = Replicas(connect)
        self._channel: grpc.aio.Channel | None = None  # of the current connection
        self._call: Any = None
        self._received = False  # the current connection has delivered a message
        self._first = False
        self._broken: ConfigdError | None = None
        self._closed = False

    @property
    def revision(self) -> int:
        """The highest revision delivered so far (0: none); a resume starts right after it."""
        return self._revision

    @property
    def first_of_connection(self) -> bool:
        """True while the message just delivered is the first of its connection."""
        return self._first

    def resync(self, error: ConfigdError) -> None:
        """The caller could not apply a message: end this connection as if it failed with
        `error`, and start the next one from a fresh snapshot."""
        self._from_snapshot()
        self._broken = error
        if self._call is not None:
            self._call.cancel()

    def _from_snapshot(self) -> None:
        """Start the next connection from a fresh snapshot, not by resuming."""
        self._resuming = False
        self._start_revision = 0
        self._send_snapshot = True

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._call is None:
                self._open()
            error = self._broken
            if error is None:
                try:
                    async with asyncio.timeout(self._idle_timeout):
                        message = await self._call.read()
                except grpc.aio.AioRpcError as exc:
                    error = self._broken or from_rpc_error(exc)
                except TimeoutError:
                    error = Unavailable(
                        f"no message from the server for {self._idle_timeout}s; reconnecting"
                    )
                else:
                    if message is grpc.aio.EOF:
                        error = self._broken or Unavailable("the server ended the watch stream")
                    else:
                        self._advance(message)
                        return message
            await self._interrupted(error)

    @property
    def channel(self) -> grpc.aio.Channel | None:
        """The current connection's channel (acks travel on it), None between connections."""
        return self._channel

    @property
    def replica(self) -> str:
        """The address of the replica the stream uses now."""
        return self._replicas.current

    def _open(self) -> None:
        self._channel = self._replicas.channel()
        resume = self._resuming
        start_revision = self._revision + 1 if resume else self._start_revision
        floor = 0
        if start_revision == 0:
            floor = max(self._min_revision, self._revision)
        request = pb.WatchRequest(
            namespaces=self._namespaces,
            prefixes=self._prefixes,
            start_revision=start_revision,
            send_snapshot=False if resume else self._send_snapshot,
            min_revision=floor,
        )
        if self._client is not None:
            request.client.client_id = self._client[0]
            request.client.labels.update(self._client[1])
        self._call = pb_grpc.ConfigServiceStub(self._channel).Watch(request)
        self._received = False
        self._broken = None

    def _advance(self, message: Any) -> None:
        event = message.WhichOneof("event")
        if event == "snapshot":
            self._revision = message.snapshot.revision
        elif event == "change_set":
            self._revision = max(self._revision, message.change_set.revision)
        elif event == "progress":
            self._revision = max(self._revision, message.progress.revision)
        if event == "snapshot" or self._start_revision > 0:
            self._resuming = True
        self._first = not self._received
        self._received = True
        self._replicas.succeeded()

    async def _interrupted(self, error: ConfigdError) -> None:
        """End the connection; wait the backoff and reopen, unless `retry` says to stop."""
        received = self._received
        self._broken = None
        if not (isinstance(error, RevisionNotApplied) and error.field == "min_revision"):
            self._floor_refusals = 0
        elif (refusals := self._floor_refusals + 1) < FLOOR_REFUSALS:
            self._floor_refusals = refusals
        else:
            _LOGGER.warning(
                "configd: the server is at revision %d, below revision %d that this client "
                "already had (restored from an older backup, or another server?); taking its "
                "state as it is",
                error.applied,
                error.wanted,
            )
            self._floor_refusals = 0
            self._min_revision = self._revision = 0  # the next snapshot sets where we are
        if isinstance(error, StoreRegressed):
            # What this stream saw after the store's revision no longer exists: resuming
            # would build on it. A fresh snapshot, of whatever state the store now has.
            _LOGGER.warning(
                "configd: the server's store went back to revision %d (this stream had %d); "
                "resynchronising from a fresh snapshot",
                error.store_revision,
                self._revision,
            )
            self._from_snapshot()
            self._floor_refusals = 0
            self._min_revision = self._revision = 0
        if self._call is not None:
            self._call.cancel()
            self._call = None
        if received:
            self._backoff.reset()
        # A lost or refused connection moves to the next replica; a channel that failed to
        # connect retries on grpc's own schedule (backoff growing to minutes), which would hide
        # a restarted server, so the failed channel is closed either way and the next
        # connection opens a new one: this backoff alone decides when to retry.
        channel, self._channel = self._channel, None
        untried = await self._replicas.failed(channel, move=isinstance(error, Unavailable))
        if untried and not received:
            return  # another replica may answer: before any retry policy or backoff
        if not self._retry(error, received):
            raise error
        if untried:
            return
        delay = (
            self._backoff.longest()
            if isinstance(error, _CREDENTIAL_ERRORS)
            else self._backoff.next()
        )
        await asyncio.sleep(delay)

    async def aclose(self) -> None:
        """End the stream and close its channel. Idempotent."""
        self._closed = True
        if self._call is not None:
            self._call.cancel()
            self._call = None
        self._channel = None
        await self._replicas.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
