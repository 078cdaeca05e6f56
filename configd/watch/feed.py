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

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

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
        Woken from the feed's own listeners (ConfigService: configd.store.applied)."""
        ...


class HistoryReader(Protocol):
    """Committed change sets read back from durable storage."""

    async def changes_since(self, start_revision: int, limit: int) -> list[ChangeSet]:
        """Change sets with revision >= `start_revision`, in increasing revision order, at
        most `limit` (a page: ask again from the last revision + 1). Every revision from the
        compaction revision through the feed's `revision` is there; below the compaction
        revision some are gone (read `compact_revision` after the page to know)."""
        ...
