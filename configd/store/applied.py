"""Callers waiting for the applied revision to reach theirs: read your writes across replicas.

Used by ConfigService.wait_applied (reads with min_revision, watches that start ahead); knows
nothing of who advances the revision, only the feed's listener contract.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Sequence

from configd.core.errors import InvalidArgument, RevisionNotApplied
from configd.core.model import ChangeSet


class AppliedWaiters:
    """Callers waiting for the feed to apply a revision ("read your writes" across replicas).

    `wake` is subscribed to the feed like any listener, so whoever advances the revision (the
    local writer, a revision-log follower) wakes the waiters in the step it advances it. A
    caller whose revision is applied already costs one comparison; only a real wait makes a
    future and a timer."""

    def __init__(self, applied: Callable[[], int], bound: float) -> None:
        self._applied = applied
        self.bound = bound  # seconds a wait lasts before Unavailable
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    async def wait(self, revision: int, *, field: str = "min_revision") -> None:
        if revision < 0:
            raise InvalidArgument(
                f"{field} {revision} is negative; send 0 (no wait) or the highest revision "
                "you have seen",
                field=field,
            )
        if revision <= self._applied():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (revision, next(self._ids), future)
        heapq.heappush(self._heap, entry)
        try:
            async with asyncio.timeout(self.bound):
                await future
        except TimeoutError:
            applied = self._applied()
            raise RevisionNotApplied(
                f"this server has applied revision {applied}, not yet revision {revision} "
                f"({field}); it did not arrive within {self.bound:g} s: retry (another replica "
                "may have it), or send a lower revision if you did not see it written",
                applied=applied,
                wanted=revision,
                field=field,
            ) from None
        finally:
            if not future.done() or future.cancelled():  # not woken: drop it from the heap
                try:
                    self._heap.remove(entry)
                except ValueError:
                    pass  # a commit popped it after the timeout cancelled it
                else:
                    heapq.heapify(self._heap)

    def wake(self, change_sets: Sequence[ChangeSet]) -> None:
        """A commit listener: resolve every wait for a revision applied now."""
        heap = self._heap
        if not heap:
            return
        applied = self._applied()
        while heap and heap[0][0] <= applied:
            future = heapq.heappop(heap)[2]
            if not future.done():
                future.set_result(None)
