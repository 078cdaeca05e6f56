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
- The writer calls catch_up() too, when the store turned out to be ahead of its batch.
- It cannot die: an exception is logged and the loop goes on after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from configd.storage.base import Storage, StoreHead
from configd.store.live import LiveState

log = logging.getLogger("configd.follower")


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
    ) -> None:
        self._storage = storage
        self._state = state
        self._page = page
        self._check_interval = check_interval
        self._hole_alarm = hole_alarm
        self._hole_retry = hole_retry
        self._task: asyncio.Task[None] | None = None
        self.applied = 0  # revisions applied from the log (other processes' writes)
        self.holes = 0  # holes that persisted past hole_alarm
        self.failures = 0  # follow rounds that failed (logged)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="configd-follower")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        state = self._state
        while True:
            try:
                known = StoreHead(state.revision, state.compact_revision)
                head = await self._storage.next_head(known, self._check_interval)
                if head.revision <= known.revision and head.compact_revision <= (
                    known.compact_revision
                ):
                    # Nothing rang for a while: look for ourselves, in case a bell was lost.
                    head = await self._storage.head()
                # Raising it early is safe: readers only become more careful.
                state.compact_revision = max(state.compact_revision, head.compact_revision)
                if head.revision > state.revision:
                    await self.catch_up(head.revision)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("following the revision log failed; retrying")
                await asyncio.sleep(self._check_interval)

    async def catch_up(self, target: int | None = None) -> bool:
        """Apply the log through revision `target` (None: through the store's end as read
        now); True if this call applied anything."""
        state = self._state
        applied_any = False
        hole_since: float | None = None
        while True:
            await state.idle()
            after = state.revision
            if target is not None and after >= target:
                return applied_any
            page = await self._storage.log_since(after, self._page)
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
