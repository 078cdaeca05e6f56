"""The revision-log follower: what other processes sharing the store committed, applied here.

Each process runs one. It waits on the storage's doorbell (SQLite: `PRAGMA data_version` on a
connection of its own, woken early by a datagram), then reads `revision > applied` from the
log in revision order and applies each page to the live state and the commit listeners (the
watch hub) in one synchronous step (configd.store.live), the step the writer uses for its own
batches. So the hub sees one ordered stream, whoever committed.

- Never twice: applying is decided by revision (only what follows the applied revision is
  applied), and never while the writer has a commit in flight (the log may be showing that very
  batch); then the follower waits for the writer and reads again.
- Never a skip: a page whose first revision does not follow the applied one is a hole. In
  SQLite one cannot happen (commit order is revision order, the write lock is held from the
  revision check to COMMIT), so a hole means a bug or a revision compacted away before this
  process read it. The follower waits and re-reads, and past `hole_alarm` seconds logs an
  error and counts it (`holes`), and goes on waiting: it never invents or skips a revision.
- History compacted away is a hole that can never fill: compaction never passes the lowest
  revision a live process has applied (Storage.applied_floor, which the follower keeps
  current with report_applied), so this happens only to a process that stopped reporting
  for long (stopped, hung). The follower then gives up: it sets `fallen_behind` (the server
  stops, and its supervisor or service manager starts it again, from the store's snapshot)
  and fails the writes waiting on catch_up. Reloading in place would have to resync every
  watcher; a restart does that through the clients' own resume.
- Lag (lag()): how long the oldest store revision this process has noticed but not applied
  has been waiting; /readyz turns it into "not ready" past a bound.
- The store below the applied revision (a head read lower than the revision applied before
  the read began: commits this process applied are gone) is a regression: the follower reports
  it to the Regression (configd.store.regression) and stops following, since what the store
  holds after its revision now is not what this process applied, and applying it on top would
  mix two histories. A restart loads the store's state.
- The writer calls catch_up() too, when the store turned out to be ahead of its batch.
- It cannot die: an exception is logged and the loop goes on after a pause (the check
  interval), so a store away for a failover is followed again once it answers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass

from configd.core.errors import Unavailable
from configd.core.model import ChangeSet
from configd.storage.base import Storage, StoreHead
from configd.store.live import LiveState
from configd.store.regression import Regression

log = logging.getLogger("configd.follower")


def _same_write(stored: ChangeSet, applied: ChangeSet) -> bool:
    """Whether the store's change set is the one applied under its revision (its record: who,
    when, what kind, where, which request; the changes follow from those)."""
    return (stored.namespace, stored.kind, stored.time, stored.author, stored.request_id) == (
        applied.namespace,
        applied.kind,
        applied.time,
        applied.author,
        applied.request_id,
    )


@dataclass(frozen=True, slots=True)
class Lag:
    """How far this process is behind the store, as far as it has noticed."""

    applied: int  # the revision this process has applied
    store: int  # the highest store revision it has noticed (>= applied)
    seconds: float  # how long the oldest noticed, unapplied revision has waited (0: current)


class Follower:
    """Follows `storage`'s revision log into `state`; start() it, stop() it."""

    def __init__(
        self,
        storage: Storage,
        state: LiveState,
        *,
        page: int = 256,
        check_interval: float = 1.0,
        hole_alarm: float = 1.0,
        hole_retry: float = 0.005,
        regression: Regression | None = None,
    ) -> None:
        self._storage = storage
        self._state = state
        self._regression = regression or Regression()
        self._page = page
        self._check_interval = check_interval
        self._hole_alarm = hole_alarm
        self._hole_retry = hole_retry
        self._task: asyncio.Task[None] | None = None
        self.applied = 0  # revisions applied from the log (other processes' writes)
        self.holes = 0  # holes that persisted past hole_alarm
        self.failures = 0  # follow rounds that failed (logged)
        # Since when (monotonic) every round has failed, and the last error: the store has
        # been unreachable that long (a partition, a failover); None while rounds succeed.
        self.failing_since: float | None = None
        self.last_failure = ""
        self.report_failures = 0  # applied-revision records that could not be written
        # (revision, monotonic time first noticed) of store heads not applied yet, ascending.
        self._noticed: collections.deque[tuple[int, float]] = collections.deque()
        self._store_revision = state.revision
        # Set (with the reason) once history this process needs was compacted away.
        self.fallen_behind = asyncio.Event()
        self.fallen_behind_reason = ""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="configd-follower")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _forget_applied(self, applied: int) -> None:
        noticed = self._noticed
        while noticed and noticed[0][0] <= applied:
            noticed.popleft()

    def _notice(self, revision: int) -> None:
        self._forget_applied(self._state.revision)  # bounds the deque by what is unapplied
        if revision > self._store_revision:
            self._store_revision = revision
            if revision > self._state.revision:
                self._noticed.append((revision, time.monotonic()))

    def lag(self) -> Lag:
        """Where this process stands against the store heads it has noticed. The wait is
        timed from the follower's first sight of the oldest unapplied revision; the store's
        revision is the storage's latest (the follower may be busy, or held, meanwhile)."""
        applied = self._state.revision
        self._forget_applied(applied)
        noticed = self._noticed
        store = max(applied, self._store_revision, self._storage.noticed_head.revision)
        if not noticed and store > applied:
            self._notice(store)  # seen here first: timed from now
        seconds = time.monotonic() - noticed[0][1] if noticed else 0.0
        return Lag(applied, store, seconds)

    async def _run(self) -> None:
        state = self._state
        streak = 0  # rounds failed in a row
        while not self.fallen_behind.is_set() and not self._regression.regressed:
            try:
                await self._report_applied()
                known = StoreHead(state.revision, state.compact_revision)
                head = await self._storage.next_head(known, self._check_interval)
                if head.revision <= known.revision and head.compact_revision <= (
                    known.compact_revision
                ):
                    # Nothing rang for a while: look for ourselves, in case a bell was lost.
                    # `applied` is read before the head: a commit of this process's writer
                    # that lands while the head is read must not look like a regression.
                    applied = state.revision
                    head = await self._storage.head()
                    if head.revision < applied:
                        self._regression.detect(head.revision, applied)
                        return
                self._notice(head.revision)
                # Raising it early is safe: readers only become more careful.
                state.compact_revision = max(state.compact_revision, head.compact_revision)
                if head.revision > state.revision:
                    await self.catch_up(head.revision)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.fallen_behind.is_set():
                    return  # the server stops (see the module docstring)
                self.failures += 1
                streak += 1
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.last_failure = str(exc)
                # A store away for a failover fails every round: one traceback, then a line
                # now and then, not one traceback a second.
                if streak == 1:
                    log.exception("following the revision log failed; retrying")
                elif streak in (10, 100) or streak % 1000 == 0:
                    log.error(
                        "following the revision log failed %d times in a row: %s", streak, exc
                    )
                await asyncio.sleep(self._check_interval)
            else:
                self.failing_since = None
                if streak:
                    log.warning("following the revision log again, after %d failed rounds", streak)
                    streak = 0

    async def catch_up(self, target: int | None = None) -> bool:
        """Apply the log through revision `target` (None: through the store's end as read
        now); True if this call applied anything."""
        state = self._state
        applied_any = False
        hole_since: float | None = None
        while True:
            if self.fallen_behind.is_set():
                raise Unavailable(self.fallen_behind_reason)
            self._regression.check()
            await state.idle()
            after = state.revision
            if target is not None and after >= target:
                return applied_any
            page = await self._read_page(after)
            if target is None and not page:
                return applied_any
            count = state.apply_log(page)
            if count is None:
                continue  # the writer began a commit meanwhile: the page may hold it
            self.applied += count
            applied_any = applied_any or count > 0
            if state.revision > after or (page and page[-1].revision <= state.revision):
                hole_since = None
                continue
            # Nothing follows `after` although the store is past it: a hole. Wait, read again.
            now = time.monotonic()
            if hole_since is None or now - hole_since > self._hole_alarm:
                # Compacted away (the page was read after the compaction committed, so the
                # head read now shows it): it will never fill.
                head = await self._storage.head()
                if after + 1 < head.compact_revision:
                    self._give_up(after, head.compact_revision)
                    raise Unavailable(self.fallen_behind_reason)
            if hole_since is None:
                hole_since = now
            elif now - hole_since > self._hole_alarm:
                self.holes += 1
                found = page[0].revision if page else "nothing"
                log.error(
                    "revision %d is missing from the revision log (found %s after %d, "
                    "compaction revision %d) for %.1f s; waiting for it, never skipping it",
                    after + 1,
                    found,
                    after,
                    state.compact_revision,
                    now - hole_since,
                )
                hole_since = now
            await asyncio.sleep(self._hole_retry)

    async def _read_page(self, after: int) -> list[ChangeSet]:
        """The log after `after`, first checking (one more row, read with it) that the store
        still holds revision `after` as this process applied it: lost commits whose numbers
        other replicas' writes took since leave the head past `after`, so only this shows
        them (an asynchronous standby promoted while the other replicas kept writing)."""
        last = self._state.last
        if last is None or last.revision != after:
            return await self._storage.log_since(after, self._page)
        page = await self._storage.log_since(after - 1, self._page + 1)
        if page and page[0].revision == after:  # else compacted: nothing to compare
            if not _same_write(page[0], last):
                raise self._regression.diverge(after)
            del page[0]
        return page

    async def _report_applied(self) -> None:
        # A record that cannot be written (disk full) must not stop the following: the
        # record goes stale, and only compaction stops counting this process.
        try:
            await self._storage.report_applied(self._state.revision)
        except Exception as exc:
            self.report_failures += 1
            if self.report_failures in (1, 10) or self.report_failures % 1000 == 0:
                log.error(
                    "cannot record the applied revision (%d times): %s", self.report_failures, exc
                )

    def _give_up(self, applied: int, compact_revision: int) -> None:
        self.fallen_behind_reason = (
            f"this configd process has applied revision {applied}, but the store has "
            f"compacted its history below revision {compact_revision}, so it cannot catch "
            "up; it stops, to be started again from the store's current state"
        )
        log.critical("%s", self.fallen_behind_reason)
        self.fallen_behind.set()
