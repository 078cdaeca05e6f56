"""What the watch hub needs from the rest of the server: a change feed and a history reader.

Committed change sets reach the hub through `ChangeFeed` only, whichever process committed
them: today the local writer (configd.store.service.ConfigService satisfies it), with replicas
a revision-log follower that applies what other processes committed. History comes from a
`HistoryReader` (the storage backend). The hub's gap-free hand-over from history to live
delivery rests on the guarantees written on each method below; an implementation that breaks
one of them makes watchers miss or repeat change sets.

"Revision" means the one global revision of the revision model (docs/architecture.md): every
committed write has exactly one, they are consecutive, and commit order is revision order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from configd.core.errors import InvalidArgument, RevisionNotApplied
from configd.core.model import ChangeSet, Namespace

CommitListener = Callable[[Sequence[ChangeSet]], None]
"""Called with each applied batch; runs on the event loop and must not block or await."""


class ChangeFeed(Protocol):
    """The applied state and the stream of change sets that advances it."""

    @property
    def revision(self) -> int:
        """The last applied revision: every change set up to it is durable, readable from the
        history reader (unless compacted since), and has been passed to the listeners
        subscribed at the time. It advances only in the event-loop step that calls the
        listeners, never between."""
        ...

    @property
    def compact_revision(self) -> int:
        """History below this revision may be gone. It is raised before any row is deleted,
        so a reader that checks it after reading a page knows whether the page may have
        holes."""
        ...

    @property
    def namespaces(self) -> Mapping[str, Namespace]:
        """Every namespace as of `revision` (a snapshot's content)."""
        ...

    def subscribe(self, listener: CommitListener) -> None:
        """Call `listener` with every batch applied from now on, synchronously, in the same
        event-loop step that advances `revision` to the batch's last revision. Batches come in
        strictly increasing, consecutive revision order, each change set exactly once, and only
        once durable. A listener that raises is logged and does not stop the others."""
        ...

    async def wait_applied(self, revision: int, *, field: str = "min_revision") -> None:
        """Return once `revision` <= `revision` of the feed (at once if so already); raise
        Unavailable after the server's bound (configd serve --min-revision-wait) naming both
        revisions, InvalidArgument if negative (`field` names the request field).
        Implementations use AppliedWaiters, woken from their own listeners."""
        ...


class HistoryReader(Protocol):
    """Committed change sets read back from durable storage."""

    async def changes_since(self, start_revision: int, limit: int) -> list[ChangeSet]:
        """Change sets with revision >= `start_revision`, in increasing revision order, at
        most `limit` (a page: ask again from the last revision + 1). Every revision from the
        compaction revision through the feed's `revision` is there; below the compaction
        revision some are gone (read `compact_revision` after the page to know)."""
        ...


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
            if not future.done() or future.cancelled():  # still in the heap: not woken
                self._heap.remove(entry)
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
