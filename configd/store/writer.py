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
  store the batch. So its callers get Unavailable now (outcome unknown: a write sent with a
  request id is simply retried with the same id, which returns its revision if it landed;
  without one, check with Get or History before retrying), but the writer does not plan
  another batch until the commit answers: the next revisions and every precondition depend
  on whether this batch lands, and planning on a guess would either reuse revisions or build
  on writes that may never exist.
  While it waits ("stalled"), queued writes and every new submit() fail fast with Unavailable
  instead of queueing forever. The batch is applied to memory and published to the commit
  listeners (in revision order, before any later batch) only if and when its commit succeeds;
  if it finally fails, nothing is applied. Either way memory equals storage again, and normal
  service resumes. Maintenance run with exclusive() is held to the same deadline.
- A write carrying a request id that an applied write carries is not planned: it is answered
  with that write's revision (Repeated) at once; one whose id a write earlier in the same
  batch carries is answered as that write is. The ids of applied writes (LiveState.requests)
  advance with the state, the follower's batches included, and a batch is planned on the
  applied state and stored only if the store did not move, so this is exact across replicas.
- Revisions come from the store (replicas share it): the batch is planned on the live state at
  its applied revision A, and storage.commit stores it only if the store is still at A when
  its write lock is held, all in one hand-off. If another process committed meanwhile (the
  store is at S > A, StoreAhead), nothing was stored: the writer catches up through the
  revision log to S (applying and publishing those change sets exactly as the follower does)
  and plans the same requests again (plans are pure). Processes take turns to commit
  (storage.begin_write_turn, taken before the first commit of a batch and held until the
  batch is answered), so a batch is overtaken at most once, by a commit that began before
  its turn; without turns two busy processes overtook each other's batches again and again.
  A refusal (a failed precondition, a
  schema violation, NoChange) is answered only once it is known to hold against the store: with
  the commit of its batch, or, in a batch that commits nothing, after a read of the log finds
  nothing newer. So preconditions and validation see every committed write, whoever made it.
- Making a durable batch live is not guarded per batch: if it raised, memory would no longer
  match storage. That, like any exception escaping the loop itself, stops the writer, but
  never with callers waiting: the batch in hand and everything queued fail with InternalError,
  and so does every later submit(), until a restart rebuilds the state from storage. Refusing
  writes is better than accepting them against a state that may be wrong; reads go on.
- A commit refused with StoreBehind (the store is below the batch's base: revisions this
  process applied are gone) is a regression (configd.store.regression): the batch and every
  later write fail with StoreRegressed until a restart, since every plan would build on
  writes that no longer exist.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from configd.core.errors import ConfigdError, InternalError, StorageFailure, Unavailable
from configd.core.model import ChangeSet
from configd.core.plan import NoChange, Outcome, Plan, Planned, Repeated, StateView
from configd.storage.base import Storage, StoreAhead, StoreBehind
from configd.store.live import CommitListener, LiveState
from configd.store.regression import Regression

log = logging.getLogger("configd.writer")

DEFAULT_COMMIT_TIMEOUT = 30.0
"""Seconds a commit may take before its callers are told its outcome is unknown."""

MAX_REPLANS = 32
"""Times one batch is planned again because other processes committed first."""

CatchUp = Callable[[int | None], Awaitable[bool]]
"""catch_up(target): apply the revision log through `target` (None: the store's end now);
True if it applied anything (configd.store.follower.Follower.catch_up)."""


@dataclass(slots=True)
class _Request:
    plan: Plan
    future: asyncio.Future[Outcome]
    request_id: str = ""


@dataclass(slots=True)
class _Exclusive:
    """Maintenance (compaction) that must not interleave with a batch on the connection."""

    run: Callable[[], Awaitable[None]]
    future: asyncio.Future[None]


_Item = _Request | _Exclusive

_Refused = tuple[_Request, ConfigdError | None]
"""A request whose plan refused (the error) or changed nothing (None)."""


def _answer(refused: Iterable[_Refused]) -> None:
    """Answer refused requests with their outcome (unless answered already)."""
    for request, error in refused:
        if request.future.done():
            continue
        if error is None:
            request.future.set_result(None)
        else:
            request.future.set_exception(error)


def _fail(futures: Iterable[asyncio.Future[Any]], error: BaseException) -> None:
    """Answer each caller not answered yet with `error`."""
    for future in futures:
        if not future.done():
            future.set_exception(error)


def _follow(first: asyncio.Future[Outcome], second: asyncio.Future[Outcome]) -> None:
    """Answer `second` (a retry in the same batch) as `first` is answered: its revision once
    it commits, its error if it fails."""

    def settle(done: asyncio.Future[Outcome]) -> None:
        if second.done():
            return
        if done.cancelled():
            second.set_exception(
                Unavailable("the first attempt of this write was cancelled; retry it")
            )
        elif (error := done.exception()) is not None:
            second.set_exception(error)
        else:
            outcome = done.result()
            if isinstance(outcome, Planned):
                outcome = Repeated(outcome.change_set.revision)
            second.set_result(outcome)

    first.add_done_callback(settle)


def _incident(exc: BaseException, what: str, consequence: str) -> InternalError:
    """An InternalError for `exc`, logged here once with its traceback."""
    error = InternalError.new(consequence)
    log.error("%s (incident %s)", what, error.incident, exc_info=exc)
    return error


_NOT_STORED = "the write was not stored; retry, and report the incident id if it persists"


def _retry_hint(exc: StorageFailure) -> StorageFailure:
    """What the callers of a batch that the storage failed hear: nothing was stored, retry."""
    error = StorageFailure(
        f"{exc.detail.rstrip('.')}; retry the write, and if it keeps failing ask the "
        "operator to check the server's disk and log"
    )
    error.__cause__ = exc
    return error


class Writer:
    """Owns the write queue; start() before submitting, stop() finishes what is queued."""

    def __init__(
        self,
        storage: Storage,
        state: LiveState,
        *,
        max_batch: int = 512,
        commit_timeout: float = DEFAULT_COMMIT_TIMEOUT,
        catch_up: CatchUp | None = None,
        regression: Regression | None = None,
    ) -> None:
        self._storage = storage
        self._state = state
        self._catch_up = catch_up
        self._regression = regression or Regression()
        self._turn = False  # this process's turn to commit (storage.begin_write_turn)
        self._max_batch = max_batch
        self._commit_timeout = commit_timeout
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # Set when stop() gives up on a storage call past its deadline (_abandon).
        self._abandoning = False
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
        # Batches planned again because another process committed first (diagnostics).
        self.replans = 0
        self.commits = 0  # batches stored
        # The last revision this writer committed (0: none yet).
        self.last_revision = 0

    def add_listener(self, listener: CommitListener) -> None:
        """Called after each durable batch, in revision order, in the same event-loop step that
        answers the callers (so a caller that sees its ack knows listeners have run). The
        revision-log follower calls the same listeners, in the same order of revisions."""
        self._state.add_listener(listener)

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
        self._queue.put_nowait(None)
        if self._stalled_since is not None:
            self._abandon()
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
        regressed = self._regression.error
        if regressed is not None:
            return regressed
        if self._stalled_since is not None:
            waited = time.monotonic() - self._stalled_since
            return Unavailable(
                f"the storage has not answered for {waited:.0f} s; writes are refused until it "
                "does: retry later"
            )
        return None

    async def submit(self, plan: Plan, request_id: str = "") -> Outcome:
        """Run `plan` in order with all other writes; None if it changed nothing. With a
        `request_id` that an applied write carries, or a write earlier in the same batch,
        the plan is not run: Repeated names that write's revision (configd.core.requests)."""
        refusal = self._refusal()
        if refusal is not None:
            raise refusal
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(plan, future, request_id))
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
            stored = await self._within_deadline(
                item.run(), lambda error: _fail([item.future], error), "maintenance"
            )
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
        regressed = self._regression.error
        if regressed is not None:  # detected while these were queued
            _fail((request.future for request in batch), regressed)
            return
        try:
            await self._plan_and_commit(batch)
        finally:
            if self._turn:
                self._turn = False
                self._storage.end_write_turn()

    async def _plan_and_commit(self, batch: list[_Request]) -> None:
        for _ in range(MAX_REPLANS):
            try:
                base = self._state.revision
                view = self._state.view()
                planned, refused = self._plan(batch, view)
                if not planned:
                    # Refusals stand only if the store holds nothing newer than the view
                    # (whether this catch-up or the follower meanwhile applied it).
                    if refused:
                        await self._caught_up(None)
                        if self._state.revision != base:
                            self.replans += 1
                            continue
                    _answer(refused)
                    return
                change_sets = [p.change_set for _, p in planned]
                futures = [r.future for r, _ in planned]
                if not self._turn:  # held until this batch is answered (see _write)
                    await self._storage.begin_write_turn(self._commit_timeout)
                    self._turn = True
                started = time.perf_counter()
                self._state.begin_commit()
                try:
                    stored = await self._commit(change_sets, futures, refused)
                except BaseException:
                    self._state.end_commit()
                    raise
                if not stored:
                    self._state.end_commit()
                    return
                self.last_commit_seconds = time.perf_counter() - started
                self.commits += 1
            except StoreBehind as behind:  # nothing stored, nobody answered
                self._fail_batch(batch, self._regression.detect(behind.revision, behind.base))
                return
            except StoreAhead as ahead:  # nothing stored, nobody answered: catch up, replan
                self.replans += 1
                try:
                    await self._caught_up(ahead.revision)
                except Exception as exc:
                    self._fail_batch(batch, exc)
                    return
                continue
            except Exception as exc:
                self._fail_batch(batch, exc)
                return
            try:
                self._publish(view, planned, refused)
            finally:
                self._state.end_commit()
            return
        log.error("a batch of %d writes was overtaken %d times; refused", len(batch), MAX_REPLANS)
        _fail(
            (request.future for request in batch),
            Unavailable(
                "other configd processes kept committing first, so the write was not stored; retry"
            ),
        )

    def _fail_batch(self, batch: list[_Request], exc: Exception) -> None:
        if isinstance(exc, StorageFailure) and not isinstance(exc, StoreBehind):
            error: ConfigdError = _retry_hint(exc)  # catching up failed: the store is away
        elif isinstance(exc, ConfigdError):
            error = exc
        else:
            error = _incident(exc, f"a batch of {len(batch)} writes failed", _NOT_STORED)
        _fail((request.future for request in batch), error)

    async def _caught_up(self, target: int | None) -> None:
        """Apply what other processes committed through `target` (None: all there is now),
        within the commit deadline."""
        if self._catch_up is None:
            return
        try:
            await asyncio.wait_for(self._catch_up(target), self._commit_timeout)
        except TimeoutError:
            raise Unavailable(
                f"this server could not read what other configd processes committed within "
                f"{self._commit_timeout:g} s, so the write was not stored; retry"
            ) from None

    def _plan(
        self, batch: list[_Request], view: StateView
    ) -> tuple[list[tuple[_Request, Planned]], list[_Refused]]:
        """Run each plan on `view`; the successful ones, and the refused ones with their
        outcome (NoChange as None), which are answered only once they are known to stand."""
        revision = self._state.revision
        now = time.time()
        planned: list[tuple[_Request, Planned]] = []
        refused: list[_Refused] = []
        by_id: dict[str, _Request] = {}  # request ids planned earlier in this batch
        for request in batch:
            if request.future.done():  # cancelled while queued, or answered before a replan
                continue
            request_id = request.request_id
            if request_id:
                # Exact: the view is the applied state, and commit refuses if the store moved.
                committed = self._state.requests.revision(request_id)
                if committed is not None:
                    request.future.set_result(Repeated(committed))
                    continue
                first = by_id.get(request_id)
                if first is not None:
                    _follow(first.future, request.future)
                    continue
            try:
                result = request.plan(view, revision + 1, now)
                if request_id:  # stored with the write, so every replica learns it
                    result = Planned(
                        dataclasses.replace(result.change_set, request_id=request_id),
                        result.namespace,
                    )
                view.stage(result)  # inside: a plan that returns garbage fails alone
            except NoChange:
                refused.append((request, None))
                continue
            except ConfigdError as exc:
                refused.append((request, exc))
                continue
            except Exception as exc:
                request.future.set_exception(_incident(exc, "a write plan failed", _NOT_STORED))
                continue
            revision += 1
            planned.append((request, result))
            if request_id:
                by_id[request_id] = request
        return planned, refused

    async def _commit(
        self,
        change_sets: list[ChangeSet],
        futures: Sequence[asyncio.Future[Outcome]],
        refused: list[_Refused],
    ) -> bool:
        """Store the batch; True once it is durable, False if it was not stored (its callers
        answered). Raises StoreAhead and StoreBehind (nobody answered), and what the storage
        raised, other than StorageFailure."""

        def unknown(error: Unavailable) -> None:
            _fail(futures, error)
            _answer(refused)

        try:
            return await self._within_deadline(
                self._storage.commit(change_sets), unknown, f"a commit of {len(change_sets)} writes"
            )
        except StoreBehind:
            raise  # a regression, not a failure to retry: _plan_and_commit answers
        except StorageFailure as exc:
            log.error("commit of %d writes failed: %s", len(change_sets), exc)
            _fail(futures, _retry_hint(exc))
            _answer(refused)
            return False

    async def _within_deadline(
        self, call: Awaitable[None], answer: Callable[[Unavailable], None], what: str
    ) -> bool:
        """Await a storage call in the writer's own task; a timer answers its callers at the
        deadline (outcome unknown) and refuses writes while the call goes on. True once the
        call succeeded, False if stop() gave up on it; raises what the call raised.

        One timer per batch, cancelled when the call answers in time, rather than a task and
        an asyncio.wait: that cost two more turns of the event loop on every commit."""
        started = time.monotonic()
        timer = asyncio.get_running_loop().call_later(
            self._commit_timeout, self._deadline_passed, answer, what, started
        )
        abandoned = False
        try:
            await call
        except asyncio.CancelledError:
            if not self._abandoning:
                raise
            # stop() gave up on the call: cancelling the await stops nothing in the storage.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            abandoned = True
            log.warning("stopping with %s still outstanding; its outcome is the storage's", what)
        finally:
            timer.cancel()
            if self._stalled_since is not None:
                self._stalled_since = None
                self._unstalled.set()
                if not abandoned:
                    log.warning(
                        "storage answered %s after %.1f s; writes resume",
                        what,
                        time.monotonic() - started,
                    )
        return not abandoned

    def _deadline_passed(
        self, answer: Callable[[Unavailable], None], what: str, started: float
    ) -> None:
        """The timer of _within_deadline: the call in hand is past its deadline."""
        log.error(
            "storage has not answered %s for %g s; refusing writes until it does",
            what,
            self._commit_timeout,
        )
        answer(
            Unavailable(
                f"the storage has not answered for {self._commit_timeout:g} s, so the outcome "
                "of the write is unknown: retry it with the same request_id (the SDK and "
                "configctl do), or read the keys or the history to check before retrying"
            )
        )
        self._stalled_since = started
        self._unstalled.clear()
        refusal = self._refusal()
        assert refusal is not None
        self._refuse_queued(refusal)
        if self._closing:
            self._abandon()

    def _abandon(self) -> None:
        """Stop waiting for the stalled storage call (at stop): its outcome is the storage's,
        and a restart rebuilds memory from storage."""
        if self._task is not None and not self._abandoning:
            self._abandoning = True
            self._task.cancel()

    def _publish(
        self,
        view: StateView,
        planned: list[tuple[_Request, Planned]],
        refused: list[_Refused],
    ) -> None:
        """Make a durable batch live, answer its callers, then tell the listeners."""
        change_sets = [p.change_set for _, p in planned]
        self.batch_sizes.append(len(change_sets))
        self.last_revision = change_sets[-1].revision
        self._state.advance(view, change_sets)
        # Answer the writers first: their continuations are queued ahead of the watchers'
        # wake-ups, so an ack does not wait behind a fan-out to thousands of streams. The
        # listeners still run in this same step, before any writer resumes.
        for request, result in planned:
            if not request.future.done():
                request.future.set_result(result)
        _answer(refused)
        self._state.notify(change_sets)
