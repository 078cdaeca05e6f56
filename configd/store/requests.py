"""The request ids of recent writes and their revisions: how a retry finds its write fast.

Maintained from every applied change set (the writer's own batches and the follower's, in
revision order), so for everything applied it is exact, whichever replica committed it. Bounded:
the oldest ids go first; once any id is gone (or the load at start was cut off), a miss is
asked of the storage (Storage.revision_of_request) before the write is planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from configd.core.model import ChangeSet

MAX_RECENT_REQUESTS = 100_000


class RecentRequests:
    def __init__(
        self,
        loaded: Mapping[str, int] | None = None,
        *,
        complete: bool = True,
        limit: int = MAX_RECENT_REQUESTS,
    ) -> None:
        self._limit = limit
        self._revisions: dict[str, int] = {}  # insertion order = revision order
        self.complete = complete
        for request_id, revision in (loaded or {}).items():
            self._add(request_id, revision)

    def revision(self, request_id: str) -> int | None:
        """The revision of the applied write with this id, if it is still remembered."""
        return self._revisions.get(request_id)

    def known_absent(self, request_id: str) -> bool:
        """Whether no stored write carries this id, as far as applied writes show (a miss
        while `complete`)."""
        return self.complete and request_id not in self._revisions

    def add(self, change_sets: Iterable[ChangeSet]) -> None:
        for change_set in change_sets:
            if change_set.request_id:
                self._add(change_set.request_id, change_set.revision)

    def _add(self, request_id: str, revision: int) -> None:
        self._revisions[request_id] = revision
        if len(self._revisions) > self._limit:
            del self._revisions[next(iter(self._revisions))]
            self.complete = False

    def __len__(self) -> int:
        return len(self._revisions)
