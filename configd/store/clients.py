"""The clients watching this replica, and their acknowledgements, kept in the store.

Every replica records the clients whose Watch it holds (ClientRecord) and the acks they send
(AckRecord) in the shared store, so any replica can tell who is connected and how a release
progresses (configd.store.releases). Writes are grouped: whatever arrives while one flush
is in flight goes in the next, one transaction each, so 1,000 clients acknowledging a
revision cost a few transactions, not 1,000. An Ack call returns once its flush is durable.

A heartbeat refreshes seen_at of this replica's connected clients; a client whose replica
died stops being refreshed and, after the client timeout, leaves every release's slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from configd.core.errors import (
    InvalidArgument,
    LimitExceeded,
    RevisionNotApplied,
    StorageFailure,
)
from configd.core.limits import Limits
from configd.core.names import check_namespace
from configd.core.releases import AckRecord, ClientIdentity, ClientRecord
from configd.core.stats import Histogram
from configd.storage.base import ClientStore
from configd_client.wire.labels import client_id_problem, labels_problem
from configd_client.wire.limits import MAX_ACK_REASON_BYTES, MAX_ACKS_PER_CALL

log = logging.getLogger("configd.clients")

DEFAULT_CLIENT_TIMEOUT = 30.0
"""Seconds a client not refreshed (its replica gone, or it disconnected) still counts as
targeted by a release (configd serve --client-timeout)."""


DEFAULT_FORGET_CLIENTS_AFTER = 24 * 3600.0
"""Seconds after which a disconnected client's record and acks are deleted from the store
(configd serve --forget-clients-after), unless a running release still counts it: default
client ids (host-pid-random) are new on every restart, so the table would grow forever."""


def check_identity(client_id: str, labels: Mapping[str, str]) -> ClientIdentity:
    """A Watch's ClientInfo, checked with the rules the SDK checks it with."""
    problem = client_id_problem(client_id, field="client.client_id") or labels_problem(
        labels, field="client.labels"
    )
    if problem:
        raise InvalidArgument(problem, field="client")
    return ClientIdentity(client_id, MappingProxyType(dict(labels)))


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledgement as a client sends it."""

    namespace: str
    revision: int
    applied: bool
    reason: str = ""


@dataclass(slots=True)
class Connection:
    """One watch stream of a client on this replica. `sent` is filled by the watch hub:
    namespace -> (revision, commit time) of the last change set or snapshot it was sent."""

    identity: ClientIdentity
    names: tuple[str, ...]
    prefixes: tuple[str, ...]
    connected_at: float
    sent: dict[str, tuple[int, float]] = field(default_factory=dict)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class ClientRegistry:
    """This replica's clients, recorded in `store` as `replica`."""

    def __init__(
        self,
        store: ClientStore,
        replica: str,
        limits: Limits,
        *,
        heartbeat: float = 10.0,
        client_timeout: float = DEFAULT_CLIENT_TIMEOUT,
        acks_per_second: float = 50.0,
    ) -> None:
        self.store = store
        self.replica = replica
        self.client_timeout = client_timeout
        self._limits = limits
        # Often enough that a connected client is never older than the timeout (readers of
        # the store select clients by seen_at).
        self._heartbeat = min(heartbeat, client_timeout / 3)
        self._rate = acks_per_second
        self._connections: dict[str, list[Connection]] = {}
        self._acked: dict[tuple[str, str], int] = {}  # (client, namespace) -> revision
        self._buckets: dict[str, _Bucket] = {}
        self._pending_clients: dict[str, ClientRecord] = {}
        self._pending_acks: dict[tuple[str, str], AckRecord] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # Seconds from a revision's commit to its ack, for acks of what this replica sent.
        self.ack_latency = Histogram()
        self.acks_received = 0

    # -- connections ----------------------------------------------------------------------

    def connect(
        self,
        identity: ClientIdentity,
        names: Iterable[str],
        prefixes: Sequence[str],
        sent: dict[str, tuple[int, float]],
    ) -> Connection:
        """A watch stream of the client opened; `sent` is what the hub fills for it."""
        connection = Connection(identity, tuple(sorted(names)), tuple(prefixes), time.time(), sent)
        self._connections.setdefault(identity.client_id, []).append(connection)
        self._queue_client(identity.client_id)
        return connection

    def disconnect(self, connection: Connection) -> None:
        client_id = connection.identity.client_id
        group = self._connections.get(client_id, [])
        if connection in group:
            group.remove(connection)
        if not group:
            self._connections.pop(client_id, None)
            self._buckets.pop(client_id, None)
            for key in [k for k in self._acked if k[0] == client_id]:
                del self._acked[key]
        self._queue_client(client_id, gone=connection)

    def _queue_client(self, client_id: str, gone: Connection | None = None) -> None:
        group = self._connections.get(client_id)
        now = time.time()
        if group:
            newest = group[-1]
            names = sorted({n for c in group for n in c.names})
            prefixes = sorted({p for c in group for p in c.prefixes})
            record = ClientRecord(
                client_id,
                newest.identity.labels,
                self.replica,
                tuple(names),
                tuple(prefixes),
                group[0].connected_at,
                now,
                True,
            )
        else:
            assert gone is not None
            record = ClientRecord(
                client_id,
                gone.identity.labels,
                self.replica,
                gone.names,
                gone.prefixes,
                gone.connected_at,
                now,
                False,
            )
        self._pending_clients[client_id] = record
        self._wake.set()

    @property
    def connections(self) -> Mapping[str, list[Connection]]:
        """Client id -> its watch streams on this replica."""
        return self._connections

    def acked(self, client_id: str, namespace: str) -> int:
        """The highest revision of `namespace` the client acknowledged here (0: none)."""
        return self._acked.get((client_id, namespace), 0)

    # -- acknowledgements -----------------------------------------------------------------

    def check_acks(self, client_id: str, acks: Sequence[Ack], current_revision: int) -> None:
        """Refuse a malformed Ack call whole (nothing recorded)."""
        problem = client_id_problem(client_id)
        if problem:
            raise InvalidArgument(problem, field="client_id")
        if not acks:
            raise InvalidArgument("acks is empty: send at least one", field="acks")
        if len(acks) > MAX_ACKS_PER_CALL:
            raise InvalidArgument(
                f"an Ack call carries at most {MAX_ACKS_PER_CALL} acks; send several",
                field="acks",
            )
        for index, ack in enumerate(acks):
            where = f"acks[{index}]"
            check_namespace(ack.namespace, self._limits, field=f"{where}.namespace")
            if ack.revision <= 0:
                raise InvalidArgument(
                    f"{where}.revision {ack.revision} is not a revision: revisions start at 1",
                    field=f"{where}.revision",
                )
            if ack.revision > current_revision:
                # Not malformed: a client that moved from a replica ahead of this one acks
                # what that replica sent. Retryable, so its SDK sends it again, here or there.
                raise RevisionNotApplied(
                    f"{where}.revision {ack.revision} is past this server's revision "
                    f"{current_revision}: it has not applied it yet; retry",
                    applied=current_revision,
                    wanted=ack.revision,
                    field=f"{where}.revision",
                )
            if len(ack.reason.encode("utf-8", errors="surrogatepass")) > MAX_ACK_REASON_BYTES:
                raise InvalidArgument(
                    f"{where}.reason is longer than {MAX_ACK_REASON_BYTES} bytes; shorten it",
                    field=f"{where}.reason",
                )

    def _take(self, client_id: str) -> None:
        """One token of the client's ack rate (a burst of two seconds' worth)."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(client_id, _Bucket(self._rate * 2, now))
        bucket.tokens = min(self._rate * 2, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens < 1:
            raise LimitExceeded(
                f"client {client_id!r} sends more than {self._rate:g} Ack calls per second; "
                "send the newest outcome per namespace, less often",
                limit="acks_per_second",
                value=int(self._rate),
            )
        bucket.tokens -= 1

    async def ack(self, client_id: str, acks: Sequence[Ack]) -> None:
        """Record `acks` (checked) durably; returns once stored."""
        self._take(client_id)
        now = time.time()
        self.acks_received += len(acks)
        sent = {
            ns: value for c in self._connections.get(client_id, ()) for ns, value in c.sent.items()
        }
        for ack in acks:
            key = (ack.namespace, client_id)
            record = self._pending_acks.get(key) or AckRecord(ack.namespace, client_id)
            if ack.applied:
                if ack.revision > record.applied_revision:
                    record = replace(record, applied_revision=ack.revision, applied_at=now)
            elif ack.revision >= record.rejected_revision:
                record = replace(
                    record, rejected_revision=ack.revision, rejected_at=now, reason=ack.reason
                )
            self._pending_acks[key] = record
            if client_id in self._connections:
                mine = (client_id, ack.namespace)
                self._acked[mine] = max(self._acked.get(mine, 0), ack.revision)
            delivered = sent.get(ack.namespace)
            if delivered is not None and delivered[0] == ack.revision:
                self.ack_latency.observe(max(0.0, now - delivered[1]))
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    # -- the flush loop -------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="configd-clients")

    async def close(self) -> None:
        """Stop (after the flush in progress, never inside one), and mark this replica's
        clients disconnected in the store."""
        if self._task is not None:
            self._closing = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 2.0)
            except (TimeoutError, asyncio.CancelledError, Exception):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            self._task = None
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(StorageFailure("the server is shutting down"))
        self._waiters.clear()
        with contextlib.suppress(StorageFailure):
            await self.store.disconnect_replica(self.replica, time.time())

    async def _run(self) -> None:
        next_beat = time.monotonic() + self._heartbeat
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_beat - time.monotonic()))
            self._wake.clear()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self._heartbeat
                try:
                    await self.store.touch_clients(self.replica, time.time())
                except StorageFailure as exc:
                    log.warning("client heartbeat failed: %s", exc)
            if self._pending_clients or self._pending_acks or self._waiters:
                await self._flush()
            if self._closing:
                return

    async def _flush(self) -> None:
        clients, self._pending_clients = self._pending_clients, {}
        acks, self._pending_acks = self._pending_acks, {}
        waiters, self._waiters = self._waiters, []
        try:
            await self.store.record_clients(list(clients.values()), list(acks.values()))
        except Exception as exc:
            # Keep the client rows for the next flush (newer ones win); the acks' callers
            # are told, and their SDKs send them again.
            for client_id, record in clients.items():
                self._pending_clients.setdefault(client_id, record)
            failure = exc if isinstance(exc, StorageFailure) else StorageFailure(str(exc))
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(failure)
            log.warning("recording clients and acks failed: %s", exc)
            await asyncio.sleep(0.5)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
