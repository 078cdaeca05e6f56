"""The single writer: serialises writes and commits them in groups (group commit).

Each submitted write is a plan (configd.core.plan): a pure function of the state it runs
against, its revision and the commit time. The writer drains the queue, runs each plan against
a StateView holding what the plans before it in the same batch staged, then stores the whole
batch in one transaction and fsync. Only after that does it make the batch live (namespaces,
revision, schema-version counters), publish it and answer the callers, so nothing
unacknowledged is ever visible and each write keeps its own revision.

The writer cannot die and cannot hang: every submit() gets an answer.

- A plan that raises a domain error fails its write alone. One that raises anything else is a
  bug: that write alone fails with InternalError (INTERNAL with an incident id, logged once
  with the traceback) and the rest of the batch goes on.
- A commit that raises StorageFailure fails its batch with StorageFailure (UNAVAILABLE, saying
  to retry); any other exception (a bug building rows, an unexpected driver error) fails it
  with InternalError. Storage holds nothing of a batch whose commit raised (the Storage
  contract), so memory is left as it was, the schema versions the batch claimed vanish with its
  view, and the next batch gets the same gap-free revisions. Then the writer goes on.
- A commit that has not answered after `commit_timeout` seconds has an unknown outcome, and it
  cannot be taken back: cancelling the await would not stop the database, which may still
  store the batch. So its callers get Unavailable now (outcome unknown: check with Get or
  History before retrying), but the writer does not plan another batch until the commit
  answers: the next revisions and every precondition depend on whether this batch lands, and
  planning on a guess would either reuse revisions or build on writes that may never exist.
  While it waits ("stalled"), queued writes and every new submit() fail fast with Unavailable
  instead of queueing forever. The batch is applied to memory and published to the commit
  listeners (in revision order, before any later batch) only if and when its commit succeeds;
  if it finally fails, nothing is applied. Either way memory equals storage again, and normal
  service resumes. Maintenance run with exclusive() is held to the same deadline.
- Making a durable batch live is not guarded per batch: if it raised, memory would no longer
  match storage. That, like any exception escaping the loop itself, stops the writer, but
  never with callers waiting: the batch in hand and everything queued fail with InternalError,
  and so does every later submit(), until a restart rebuilds the state from storage. Refusing
  writes is better than accepting them against a state that may be wrong; reads go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from configd.core.errors import ConfigdError, InternalError, StorageFailure, Unavailable
from configd.core.model import ChangeSet, Namespace
from configd.core.plan import NoChange, Plan, Planned, StateView
from configd.storage.base import Storage

log = logging.getLogger("configd.writer")

DEFAULT_COMMIT_TIMEOUT = 30.0
"""Seconds a commit may take before its callers are told its outcome is unknown."""

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


_Item = _Request | _Exclusive


class LiveState:
    """What readers see: the last durable revision and the namespaces as of it.

    Mutated only by the writer, in one synchronous step per batch, so a reader on the event
    loop never sees half of a batch."""

    def __init__(
        self,
        revision: int,
        compact_revision: int,
        namespaces: Mapping[str, Namespace],
        schema_versions: Mapping[str, int] | None = None,
    ) -> None:
        self.revision = revision
        self.compact_revision = compact_revision
        self.namespaces: dict[str, Namespace] = dict(namespaces)
        # The highest schema version each name has had (see StateView.next_schema_version).
        self.schema_versions: dict[str, int] = dict(schema_versions or {})

    def view(self) -> StateView:
        """A fresh view for plans: the committed state, nothing staged."""
        return StateView(self.namespaces, self.schema_versions)


def _fail(futures: Iterable[asyncio.Future[Any]], error: BaseException) -> None:
    """Answer each caller not answered yet with `error`."""
    for future in futures:
        if not future.done():
            future.set_exception(error)


def _incident(exc: BaseException, what: str, consequence: str) -> InternalError:
    """An InternalError for `exc`, logged here once with its traceback."""
    error = InternalError.new(consequence)
    log.error("%s (incident %s)", what, error.incident, exc_info=exc)
    return error


_NOT_STORED = "the write was not stored; retry, and report the incident id if it persists"


class Writer:
    """Owns the write queue; start() before submitting, stop() finishes what is queued."""

    def __init__(
        self,
        storage: Storage,
        state: LiveState,
        *,
        max_batch: int = 512,
        commit_timeout: float = DEFAULT_COMMIT_TIMEOUT,
    ) -> None:
        self._storage = storage
        self._state = state
        self._max_batch = max_batch
        self._commit_timeout = commit_timeout
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[CommitListener] = []
        self._closing = False
        self._stopping = asyncio.Event()
        # Set while a storage call is past its deadline (monotonic time it started).
        self._stalled_since: float | None = None
        self._unstalled = asyncio.Event()
        self._unstalled.set()
        # Set once the loop has stopped on a bug: every later write gets it.
        self._failure: InternalError | None = None
        # The items taken off the queue and not yet answered (failed if the loop dies).
        self._in_hand: list[_Item] = []
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
        """Refuse new writes, commit the ones already queued, then end the task.

        A commit past its deadline is not waited for: its outcome is the storage's to decide,
        and a restart rebuilds memory from storage."""
        if self._task is None or self._closing:
            return
        self._closing = True
        self._stopping.set()
        self._queue.put_nowait(None)
        await self._task

    @property
    def stalled(self) -> bool:
        """Whether writes are refused because a storage call is past its deadline."""
        return self._stalled_since is not None

    async def resumed(self) -> None:
        """Return once no storage call is past its deadline (at once if none is)."""
        await self._unstalled.wait()

    def _refusal(self) -> ConfigdError | None:
        """Why a write would be refused now, or None."""
        if self._failure is not None:
            return InternalError(self._failure.detail, incident=self._failure.incident)
        if self._closing or self._task is None:
            return Unavailable("the server is shutting down; retry against a running server")
        if self._stalled_since is not None:
            waited = time.monotonic() - self._stalled_since
            return Unavailable(
                f"the storage has not answered for {waited:.0f} s; writes are refused until it "
                "does: retry later"
            )
        return None

    async def submit(self, plan: Plan) -> Planned | None:
        """Run `plan` in order with all other writes; None if it changed nothing."""
        refusal = self._refusal()
        if refusal is not None:
            raise refusal
        future: asyncio.Future[Planned | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(plan, future))
        return await future

    async def exclusive(self, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run` between batches, with no write in progress."""
        refusal = self._refusal()
        if refusal is not None:
            raise refusal
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Exclusive(run, future))
        await future

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop()
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a bug in the writer itself: stop loudly, refuse the rest
            self._failure = _incident(
                exc,
                "the writer stopped",
                "the writer stopped, so writes are refused until the server restarts; "
                "report the incident id",
            )
        finally:
            # Whatever ended the loop (a bug, cancellation), nobody is left waiting.
            if self._failure is None:
                self._closing = True
            refusal = self._refusal()
            assert refusal is not None
            _fail((item.future for item in self._in_hand), refusal)
            self._in_hand = []
            self._refuse_queued(refusal)

    async def _loop(self) -> None:
        while True:
            item = await self._queue.get()
            batch: list[_Request] = []
            self._in_hand = []
            stop = False
            while True:
                if item is None:
                    stop = True
                    break
                self._in_hand.append(item)
                if isinstance(item, _Exclusive):
                    await self._write(batch)
                    batch = []
                    await self._run_exclusive(item)
                else:
                    batch.append(item)
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            await self._write(batch)
            if stop:
                return

    def _refuse_queued(self, error: ConfigdError) -> None:
        """Fail every queued write; a queued stop stays queued."""
        stop = False
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                stop = True
            else:
                _fail([item.future], error)
        if stop:
            self._queue.put_nowait(None)

    async def _run_exclusive(self, item: _Exclusive) -> None:
        try:
            stored = await self._within_deadline(item.run(), [item.future], "maintenance")
            if stored and not item.future.done():  # done: answered at the deadline
                item.future.set_result(None)
        except Exception as exc:
            _fail([item.future], exc)

    # -- one batch --------------------------------------------------------------------------

    async def _write(self, batch: list[_Request]) -> None:
        """Plan, commit and publish one batch; no exception of planning or committing leaves
        here (the batch's writes fail instead)."""
        if not batch:
            return
        try:
            view = self._state.view()
            planned = self._plan(batch, view)
            if not planned:
                return
            change_sets = [p.change_set for _, p in planned]
            futures = [r.future for r, _ in planned]
            started = time.perf_counter()
            if not await self._commit(change_sets, futures):
                return
            self.last_commit_seconds = time.perf_counter() - started
        except Exception as exc:
            error = _incident(exc, f"a batch of {len(batch)} writes failed", _NOT_STORED)
            _fail((request.future for request in batch), error)
            return
        self._publish(view, planned)

    def _plan(self, batch: list[_Request], view: StateView) -> list[tuple[_Request, Planned]]:
        revision = self._state.revision
        now = time.time()
        planned: list[tuple[_Request, Planned]] = []
        for request in batch:
            if request.future.done():  # cancelled while queued
                continue
            try:
                result = request.plan(view, revision + 1, now)
                view.stage(result)  # inside: a plan that returns garbage fails alone
            except NoChange:
                request.future.set_result(None)
                continue
            except ConfigdError as exc:
                request.future.set_exception(exc)
                continue
            except Exception as exc:
                request.future.set_exception(_incident(exc, "a write plan failed", _NOT_STORED))
                continue
            revision += 1
            planned.append((request, result))
        return planned

    async def _commit(
        self, change_sets: list[ChangeSet], futures: Sequence[asyncio.Future[Planned | None]]
    ) -> bool:
        """Store the batch; True once it is durable, False if it was not stored (its callers
        answered). Raises what the storage raised, other than StorageFailure."""
        try:
            return await self._within_deadline(
                self._storage.commit(change_sets), futures, f"a commit of {len(change_sets)} writes"
            )
        except StorageFailure as exc:
            log.error("commit of %d writes failed: %s", len(change_sets), exc)
            error = StorageFailure(
                f"{exc.detail.rstrip('.')}; retry the write, and if it keeps failing ask the "
                "operator to check the server's disk and log"
            )
            error.__cause__ = exc
            _fail(futures, error)
            return False

    async def _within_deadline(
        self, call: Awaitable[None], futures: Sequence[asyncio.Future[Any]], what: str
    ) -> bool:
        """Await a storage call; past the deadline, answer `futures` (outcome unknown), refuse
        writes, and wait on. True once the call succeeded, False if given up at stop;
        raises what the call raised."""
        task = asyncio.ensure_future(call)
        started = time.monotonic()
        done, _ = await asyncio.wait({task}, timeout=self._commit_timeout)
        if not done:
            log.error(
                "storage has not answered %s for %g s; refusing writes until it does",
                what,
                self._commit_timeout,
            )
            unknown = Unavailable(
                f"the storage has not answered for {self._commit_timeout:g} s, so the outcome "
                "of the write is unknown: read the keys or the history to check before retrying"
            )
            _fail(futures, unknown)
            self._stalled_since = started
            self._unstalled.clear()
            try:
                refusal = self._refusal()
                assert refusal is not None
                self._refuse_queued(refusal)
                stopping = asyncio.ensure_future(self._stopping.wait())
                try:
                    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
            finally:
                self._stalled_since = None
                self._unstalled.set()
            if not task.done():
                log.warning(
                    "stopping with %s still outstanding; its outcome is the storage's", what
                )
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
                return False
            log.warning(
                "storage answered %s after %.1f s; writes resume", what, time.monotonic() - started
            )
        task.result()
        return True

    def _publish(self, view: StateView, planned: list[tuple[_Request, Planned]]) -> None:
        """Make a durable batch live, answer its callers, then tell the listeners."""
        change_sets = [p.change_set for _, p in planned]
        self.batch_sizes.append(len(change_sets))
        namespaces = self._state.namespaces
        for name, namespace in view.staged_namespaces.items():
            if namespace is None:
                namespaces.pop(name, None)
            else:
                namespaces[name] = namespace
        self._state.schema_versions.update(view.staged_schema_versions)
        self._state.revision = change_sets[-1].revision
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
