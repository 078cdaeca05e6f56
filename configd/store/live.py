"""The live state: what readers see, and the one step that advances it.

Two parts of a process advance it: the writer, with the batches it commits itself, and the
revision-log follower, with what other processes sharing the store committed. Both go through
advance() and notify(), synchronous and on the event loop, so a reader never sees half a batch
and the commit listeners (the watch hub first of all) see one ordered stream: consecutive
revisions, each once.

The two never apply the same revisions: while the writer has a commit in flight (it planned on
`revision` and the store may be storing its batch right now), nothing else may advance the
state, since what the log shows above `revision` may be that very batch (apply_log refuses, and
idle() says when to come back). Everything else is decided by revision: apply_log applies only
the change sets that follow `revision`, so a page read twice, or a page the writer applied
meanwhile, is applied once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from configd.core.model import ChangeSet, Namespace
from configd.core.plan import StateView
from configd.core.replay import replay
from configd.store.requests import RecentRequests

log = logging.getLogger("configd.writer")

CommitListener = Callable[[Sequence[ChangeSet]], None]


class LiveState:
    """The last applied revision and the namespaces as of it.

    Mutated only through advance(), in one synchronous step per batch."""

    def __init__(
        self,
        revision: int,
        compact_revision: int,
        namespaces: Mapping[str, Namespace],
        schema_versions: Mapping[str, int] | None = None,
        requests: RecentRequests | None = None,
    ) -> None:
        self.revision = revision
        self.compact_revision = compact_revision
        self.namespaces: dict[str, Namespace] = dict(namespaces)
        # The highest schema version each name has had (see StateView.next_schema_version).
        self.schema_versions: dict[str, int] = dict(schema_versions or {})
        # Request ids of applied writes (advanced with them, so exact for what is applied).
        self.requests = requests or RecentRequests()
        # The last change set applied (None: none since start), so the follower can check
        # that the store still holds it as applied (lost commits whose numbers others took).
        self.last: ChangeSet | None = None
        self._listeners: list[CommitListener] = []
        self._committing = False
        self._idle = asyncio.Event()
        self._idle.set()

    def view(self) -> StateView:
        """A fresh view for plans: the committed state, nothing staged."""
        return StateView(self.namespaces, self.schema_versions)

    def add_listener(self, listener: CommitListener) -> None:
        """Called with every applied batch, in revision order (see advance)."""
        self._listeners.append(listener)

    # -- the writer's hold ------------------------------------------------------------------

    @property
    def committing(self) -> bool:
        """Whether the writer has a batch planned on `revision` in the store's hands."""
        return self._committing

    def begin_commit(self) -> None:
        self._committing = True
        self._idle.clear()

    def end_commit(self) -> None:
        self._committing = False
        self._idle.set()

    async def idle(self) -> None:
        """Return once the writer has no commit in flight (at once if it has none)."""
        await self._idle.wait()

    # -- advancing --------------------------------------------------------------------------

    def advance(self, view: StateView, change_sets: Sequence[ChangeSet]) -> None:
        """Make `change_sets` (consecutive, following `revision`) and what `view` staged for
        them live; call notify() in the same step."""
        namespaces = self.namespaces
        for name, namespace in view.staged_namespaces.items():
            if namespace is None:
                namespaces.pop(name, None)
            else:
                namespaces[name] = namespace
        self.schema_versions.update(view.staged_schema_versions)
        self.requests.add(change_sets)
        self.last = change_sets[-1]
        self.revision = self.last.revision

    def notify(self, change_sets: Sequence[ChangeSet]) -> None:
        """Tell every listener; one that raises is logged and does not stop the others."""
        for listener in self._listeners:
            try:
                listener(change_sets)
            except Exception:
                log.exception("commit listener failed")

    def apply_log(self, change_sets: Sequence[ChangeSet]) -> int | None:
        """Apply the change sets (in revision order, as read from the revision log) that
        follow `revision`, up to the first hole; skip those already applied. Returns how many
        were applied, or None, applying nothing, while the writer has a commit in flight.
        Raises configd.core.replay.ReplayMismatch (applying nothing) if the log does not
        follow from this state."""
        if self._committing:
            return None
        view = self.view()
        applied: list[ChangeSet] = []
        for change_set in change_sets:
            expected = self.revision + len(applied) + 1
            if change_set.revision < expected:
                continue
            if change_set.revision > expected:
                break  # a hole: never skipped
            view.stage(replay(view, change_set))
            applied.append(change_set)
        if applied:
            self.advance(view, applied)
            self.notify(applied)
        return len(applied)
