"""The single writer: serialises writes and commits them in groups (group commit).

Each submitted write is a *plan*: a pure function of the state it runs against, its revision
and the commit time, returning the ChangeSet and the namespace's new state (or raising a
domain error, which fails that write alone). The writer drains the queue, runs each plan
against the state left by the plans before it in the same batch, then stores the whole batch
in one transaction and fsync. Only after that does it publish the new state and answer the
callers, so nothing unacknowledged is ever visible and each write keeps its own revision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from configd.core.errors import ConfigdError, StorageFailure, Unavailable
from configd.core.model import ChangeSet, Namespace
from configd.storage.base import Storage

log = logging.getLogger("configd.writer")


class NoChange(Exception):
    """Raised by a plan whose write would change nothing; it commits no revision."""


@dataclass(frozen=True, slots=True)
class Planned:
    change_set: ChangeSet
    namespace: Namespace | None


class StateView:
    """The committed namespaces overlaid with the ones staged earlier in the same batch."""

    def __init__(self, committed: Mapping[str, Namespace]) -> None:
        self._committed = committed
        self._staged: dict[str, Namespace | None] = {}

    def get(self, name: str) -> Namespace | None:
        if name in self._staged:
            return self._staged[name]
        return self._committed.get(name)

    def stage(self, name: str, namespace: Namespace | None) -> None:
        self._staged[name] = namespace

    def __len__(self) -> int:
        """How many namespaces exist, counting the ones staged earlier in the batch."""
        count = len(self._committed)
        for name, namespace in self._staged.items():
            count += (namespace is not None) - (name in self._committed)
        return count


Plan = Callable[[StateView, int, float], Planned]
CommitListener = Callable[[Sequence[ChangeSet]], None]


@dataclass(slots=True)
class _Request:
    plan: Plan
    future: asyncio.Future[Planned | None]


@dataclass(slots=True)
class _Exclusive:
    """Maintenance (compaction) that must not interleave with a batch on the connection."""

    run: Callable[[], Awaitable[None]]
    future: asyncio.Future[None]


class LiveState:
    """What readers see: the last durable revision and the namespaces as of it.

    Mutated only by the writer, in one synchronous step per batch, so a reader on the event
    loop never sees half of a batch."""

    def __init__(
        self, revision: int, compact_revision: int, namespaces: Mapping[str, Namespace]
    ) -> None:
        self.revision = revision
        self.compact_revision = compact_revision
        self.namespaces: dict[str, Namespace] = dict(namespaces)


class Writer:
    """Owns the write queue; start() before submitting, stop() finishes what is queued."""

    def __init__(self, storage: Storage, state: LiveState, *, max_batch: int = 512) -> None:
        self._storage = storage
        self._state = state
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Request | _Exclusive | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[CommitListener] = []
        self._closing = False
        # The most recent batch sizes (tests and diagnostics; metrics use a commit listener).
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self.last_commit_seconds = 0.0

    def add_listener(self, listener: CommitListener) -> None:
        """Called after each durable batch, in revision order, in the same event-loop step that
        answers the callers (so a caller that sees its ack knows listeners have run)."""
        self._listeners.append(listener)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="configd-writer")

    async def stop(self) -> None:
        """Refuse new writes, commit the ones already queued, then end the task."""
        if self._task is None or self._closing:
            return
        self._closing = True
        self._queue.put_nowait(None)
        await self._task

    async def submit(self, plan: Plan) -> Planned | None:
        """Run `plan` in order with all other writes; None if it changed nothing."""
        if self._closing or self._task is None:
            raise Unavailable("the server is shutting down; retry against a running server")
        future: asyncio.Future[Planned | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(plan, future))
        return await future

    async def exclusive(self, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run` between batches, with no write in progress."""
        if self._closing or self._task is None:
            raise Unavailable("the server is shutting down; retry against a running server")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Exclusive(run, future))
        await future

    async def _run(self) -> None:
        stop = False
        while not stop:
            item = await self._queue.get()
            batch: list[_Request] = []
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, _Exclusive):
                    await self._commit(batch)
                    batch = []
                    await self._run_exclusive(item)
                else:
                    batch.append(item)
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            await self._commit(batch)

    async def _run_exclusive(self, item: _Exclusive) -> None:
        try:
            await item.run()
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
        else:
            if not item.future.done():
                item.future.set_result(None)

    async def _commit(self, batch: list[_Request]) -> None:
        view = StateView(self._state.namespaces)
        revision = self._state.revision
        now = time.time()
        planned: list[tuple[_Request, Planned]] = []
        for request in batch:
            if request.future.done():  # cancelled while queued
                continue
            try:
                result = request.plan(view, revision + 1, now)
            except NoChange:
                request.future.set_result(None)
                continue
            except ConfigdError as exc:
                request.future.set_exception(exc)
                continue
            except Exception as exc:
                log.exception("write plan failed unexpectedly")
                request.future.set_exception(exc)
                continue
            revision += 1
            view.stage(result.change_set.namespace, result.namespace)
            planned.append((request, result))
        if not planned:
            return
        change_sets = [p.change_set for _, p in planned]
        started = time.perf_counter()
        try:
            await self._storage.commit(change_sets)
        except StorageFailure as exc:
            log.error("commit of %d writes failed: %s", len(change_sets), exc)
            for request, _ in planned:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        self.last_commit_seconds = time.perf_counter() - started
        self.batch_sizes.append(len(change_sets))
        namespaces = self._state.namespaces
        for _, result in planned:
            name = result.change_set.namespace
            if result.namespace is None:
                namespaces.pop(name, None)
            else:
                namespaces[name] = result.namespace
        self._state.revision = revision
        # Answer the writers first: their continuations are queued ahead of the watchers'
        # wake-ups, so an ack does not wait behind a fan-out to thousands of streams. The
        # listeners still run in this same step, before any writer resumes.
        for request, result in planned:
            if not request.future.done():
                request.future.set_result(result)
        for listener in self._listeners:
            try:
                listener(change_sets)
            except Exception:
                log.exception("commit listener failed")
