"""Acknowledgements: after each revision, the client tells the server, per namespace, whether
it applied it or rejected it (a check vetoed it), so a release knows who runs what.

Off the read path: the watch loop only notes the outcome (a dict write); one background task
sends them with ReleaseService.Ack on the watch's own channel. Outcomes are coalesced (only the
newest applied and the newest rejected revision per namespace are pending), at most one call is
in flight, calls are spaced at least MIN_INTERVAL apart (the server limits each client's rate
too), and a failed call is retried with the newest outcomes after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import grpc

from configd_client.wire import release_pb2, release_pb2_grpc

MIN_INTERVAL = 0.05
RETRY_PAUSE = 1.0
MAX_REASON_BYTES = 1_024


def _truncate(reason: str) -> str:
    data = reason.encode("utf-8", errors="replace")
    if len(data) <= MAX_REASON_BYTES:
        return reason
    return data[: MAX_REASON_BYTES - 3].decode("utf-8", errors="ignore") + "..."


class AckSender:
    """Sends one client's acknowledgements over `channel()` (None: not connected now)."""

    def __init__(
        self,
        client_id: str,
        channel: Callable[[], grpc.aio.Channel | None],
        log: logging.Logger,
    ) -> None:
        self._client_id = client_id
        self._channel = channel
        self._log = log
        # (namespace, applied) -> (revision, reason): the newest of each kind
        self._pending: dict[tuple[str, bool], tuple[int, str]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def note(self, namespace: str, revision: int, applied: bool, reason: str = "") -> None:
        """Record an outcome to send (cheap; never waits)."""
        key = (namespace, applied)
        known = self._pending.get(key)
        if known is None or revision >= known[0]:
            self._pending[key] = (revision, _truncate(reason))
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="configd-acks")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            if not await self._send_once():
                await asyncio.sleep(RETRY_PAUSE)
                self._wake.set()
                continue
            await asyncio.sleep(MIN_INTERVAL)

    async def _send_once(self) -> bool:
        channel = self._channel()
        if channel is None:
            return False
        batch, self._pending = self._pending, {}
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
                for (namespace, applied), (revision, reason) in sorted(batch.items())
            ],
        )
        try:
            await release_pb2_grpc.ReleaseServiceStub(channel).Ack(request, timeout=5.0)
        except (grpc.aio.AioRpcError, grpc.RpcError) as exc:
            for key, value in batch.items():
                known = self._pending.get(key)
                if known is None or value[0] > known[0]:
                    self._pending[key] = value
            self._log.debug("configd: acknowledgements not delivered yet: %s", exc)
            return False
        except Exception:  # a channel closed under us (reconnect): try again later
            for key, value in batch.items():
                self._pending.setdefault(key, value)
            return False
        self.sent += len(request.acks)
        return True

    async def aclose(self, flush_within: float = 0.5) -> None:
        """Send what is pending (briefly), then stop."""
        if self._task is None:
            return
        if self._pending:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(self._send_once(), flush_within)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
