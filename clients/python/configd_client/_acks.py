"""Acknowledgements: after each revision, the client tells the server, per namespace, whether
it applied it or rejected it (a check vetoed it), so a release knows who runs what.

Off the read path: the watch loop only notes the outcome (a dict write); one background task
sends them with ReleaseService.Ack on the watch's own channel. Outcomes are coalesced (only the
newest applied and the newest rejected revision per namespace are pending), at most one call is
in flight, calls are spaced at least MIN_INTERVAL apart (the server limits each client's rate
too). What the reply means:

- a failed call (UNAVAILABLE, a rate limit, a deadline, ...) is retried with the newest
  outcomes after a pause that doubles from RETRY_INITIAL up to RETRY_MAX (reset by a success);
- INVALID_ARGUMENT drops that call's acks with a warning: the server refused their content,
  and sending them again cannot help;
- UNIMPLEMENTED (a server without ReleaseService) stops acknowledgements for the sender's
  lifetime, with one info log;
- aclose() hands what is pending (and the call in flight) to the same task, which sends it
  without pauses and stops; close waits for that at most `flush_within` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable

import grpc

from configd_client._backoff import Backoff
from configd_client.wire import release_pb2, release_pb2_grpc
from configd_client.wire.limits import MAX_ACK_REASON_BYTES, MAX_ACKS_PER_CALL

MIN_INTERVAL = 0.05
RETRY_INITIAL = 0.1
RETRY_MAX = 5.0
CALL_TIMEOUT = 5.0
FLUSH_WITHIN = 0.5


def _truncate(reason: str) -> str:
    data = reason.encode("utf-8", errors="replace")
    if len(data) <= MAX_ACK_REASON_BYTES:
        return reason
    return data[: MAX_ACK_REASON_BYTES - 3].decode("utf-8", errors="ignore") + "..."


class _Sent(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # put back in pending: try again after a pause
    DROPPED = "dropped"  # the server refused them (INVALID_ARGUMENT)
    UNSUPPORTED = "unsupported"  # no ReleaseService: stop for good


class AckSender:
    """Sends one client's acknowledgements over `channel()` (None: not connected now)."""

    def __init__(
        self,
        client_id: str,
        channel: Callable[[], grpc.aio.Channel | None],
        log: logging.Logger,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self._client_id = client_id
        self._channel = channel
        self._log = log
        # (namespace, applied) -> (revision, reason): the newest of each kind
        self._pending: dict[tuple[str, bool], tuple[int, str]] = {}
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._deadline: float | None = None  # loop time by which the closing flush ends
        self._backoff = backoff or Backoff(RETRY_INITIAL, RETRY_MAX)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self.unsupported = False  # the server has no ReleaseService: nothing is sent any more

    def note(self, namespace: str, revision: int, applied: bool, reason: str = "") -> None:
        """Record an outcome to send (cheap; never waits)."""
        if self.unsupported or self._closing.is_set():
            return
        key = (namespace, applied)
        known = self._pending.get(key)
        if known is None or revision >= known[0]:
            self._pending[key] = (revision, _truncate(reason))
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="configd-acks")

    async def _run(self) -> None:
        while True:
            if self._closing.is_set():
                if not self._pending:
                    return
            else:
                await self._wake.wait()
                self._wake.clear()
                if not self._pending:
                    continue
            outcome = await self._send_once()
            if outcome is _Sent.UNSUPPORTED:
                return
            if outcome is _Sent.RETRY:
                if self._closing.is_set():
                    return  # no retries while closing: the next attempt would come too late
                await self._pause(self._backoff.next())
                self._wake.set()
                continue
            if outcome is _Sent.DELIVERED:
                self._backoff.reset()
            await self._pause(MIN_INTERVAL)

    async def _pause(self, delay: float) -> None:
        """Sleep `delay`, or less if close begins (its flush does not wait for a pause)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    def _call_timeout(self) -> float:
        if self._deadline is None:
            return CALL_TIMEOUT
        return max(0.001, min(CALL_TIMEOUT, self._deadline - asyncio.get_running_loop().time()))

    async def _send_once(self) -> _Sent:
        channel = self._channel()
        if channel is None:
            return _Sent.RETRY
        # The server takes at most MAX_ACKS_PER_CALL per call; the rest go in the next one.
        keys = sorted(self._pending)[:MAX_ACKS_PER_CALL]
        batch = {key: self._pending.pop(key) for key in keys}
        if self._pending:
            self._wake.set()
        request = release_pb2.AckRequest(
            client_id=self._client_id,
            acks=[
                release_pb2.NamespaceAck(
                    namespace=namespace,
                    revision=revision,
                    outcome=release_pb2.ACK_OUTCOME_APPLIED
                    if applied
                    else release_pb2.ACK_OUTCOME_REJECTED,
                    reason=reason,
                )
                for (namespace, applied), (revision, reason) in batch.items()
            ],
        )
        try:
            await release_pb2_grpc.ReleaseServiceStub(channel).Ack(
                request, timeout=self._call_timeout()
            )
        except asyncio.CancelledError:
            # grpc.aio raises CancelledError for a call cut off by its channel closing (the
            # watch reconnecting): the acks were not delivered. Only a cancellation of this
            # task itself (aclose giving up) ends it; otherwise this sender would die here
            # and no later outcome would ever be sent.
            self._requeue(batch)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            self._log.debug("configd: acknowledgements cut off by a reconnect; resending")
            return _Sent.RETRY
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code is grpc.StatusCode.UNIMPLEMENTED:
                self.unsupported = True
                self._pending.clear()
                self._log.info(
                    "configd: the server does not take acknowledgements (no ReleaseService: "
                    "an older configd?); this client sends none from now on"
                )
                return _Sent.UNSUPPORTED
            if code is grpc.StatusCode.INVALID_ARGUMENT:
                self.dropped += len(request.acks)
                self._log.warning(
                    "configd: the server refused %d acknowledgement(s) (%s); dropping them",
                    len(request.acks),
                    exc.details(),
                )
                return _Sent.DROPPED
            self._requeue(batch)
            self._log.debug("configd: acknowledgements not delivered yet: %s", exc)
            return _Sent.RETRY
        except Exception as exc:  # a channel closed under us (reconnect): try again later
            self._requeue(batch)
            self._log.debug("configd: acknowledgements not delivered yet: %r", exc)
            return _Sent.RETRY
        self.sent += len(request.acks)
        return _Sent.DELIVERED

    def _requeue(self, batch: dict[tuple[str, bool], tuple[int, str]]) -> None:
        # Anything noted since the batch was taken is newer or equal: it wins.
        for key, value in batch.items():
            known = self._pending.get(key)
            if known is None or value[0] > known[0]:
                self._pending[key] = value

    async def aclose(self, flush_within: float = FLUSH_WITHIN) -> None:
        """Send what is pending and let the call in flight finish, for at most `flush_within`
        seconds (never longer: close must not hang on a server that does not answer), then
        stop. Idempotent."""
        if self._closing.is_set():
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + flush_within
        self._closing.set()
        self._wake.set()
        task = self._task
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=flush_within)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif not task.cancelled() and (failure := task.exception()) is not None:
            self._log.error("configd: the acknowledgement sender failed", exc_info=failure)
        if self._pending:
            self._log.debug(
                "configd: %d acknowledgement(s) not delivered before close", len(self._pending)
            )
