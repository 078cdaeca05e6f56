"""The store went back in time: its revision is below what this process has applied.

That happens only when commits this process applied (and acknowledged, or served to watchers)
are gone from the store: an asynchronous PostgreSQL standby promoted without the last commits,
a database file restored under a running server. Nothing this process holds after the store's
revision exists any more, and a write planned on it would build on writes that never happened,
so the process stops writing for good (Consul's rule for blocking queries: reset when the index
goes backwards). The follower (a head below the applied revision) and the writer (a commit
refused with StoreBehind) detect it; this one object decides what follows, once:

- writes are refused with StoreRegressed (UNAVAILABLE, reason STORE_REGRESSED) saying why and
  what to do; the SDK does not retry them;
- every Watch stream ends with StoreRegressed and new ones are refused: the SDK takes a fresh
  snapshot (from another replica, or from this one once restarted) instead of resuming;
- reads at a revision above the store's are refused the same way; reads of the current state
  from memory go on and may include the lost revisions;
- /readyz is not ready with the message, configd_store_regressed is 1, one ERROR line is logged.

Recovery is a restart: the process then loads the store's state as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from configd.core.errors import StoreRegressed

log = logging.getLogger("configd.store")

DOCS = 'docs/architecture.md, "When the store goes back in time"'

RegressionListener = Callable[[StoreRegressed], None]
"""Called once, on the event loop, when the regression is detected; must not block."""


def _copy(error: StoreRegressed) -> StoreRegressed:
    return StoreRegressed(error.detail, store_revision=error.store_revision, applied=error.applied)


class Regression:
    """Whether the store was found below this process's applied revision, and the error that
    every refused request gets from then on. Set once; only a restart clears it."""

    def __init__(self) -> None:
        self._error: StoreRegressed | None = None
        self._listeners: list[RegressionListener] = []

    @property
    def error(self) -> StoreRegressed | None:
        """The refusal (a fresh exception each time: a raised one collects its traceback),
        once regressed; None while the store is where this process is."""
        return None if self._error is None else _copy(self._error)

    @property
    def regressed(self) -> bool:
        return self._error is not None

    @property
    def store_revision(self) -> int | None:
        """The store's revision as found when the regression was detected (None: not)."""
        return None if self._error is None else self._error.store_revision

    def subscribe(self, listener: RegressionListener) -> None:
        """Call `listener` when the regression is detected (at once if it has been)."""
        self._listeners.append(listener)
        if self._error is not None:
            listener(self._error)

    def detect(self, store_revision: int, applied: int) -> StoreRegressed:
        """The store is at `store_revision`, below `applied`: enter the regressed state (the
        first call only) and return the refusal."""
        return self._enter(
            StoreRegressed(
                f"the store is at revision {store_revision}, below the {applied} this replica "
                "applied: commits were lost (an asynchronous standby promoted, or the database "
                "restored under a running server?); this replica refuses writes and watches "
                f"until it is restarted, and then serves the store's state; see {DOCS}",
                store_revision=store_revision,
                applied=applied,
            )
        )

    def diverge(self, revision: int) -> StoreRegressed:
        """The store holds another write as `revision` than the one this process applied:
        commits were lost and other writes took their numbers since, so the head is past the
        applied revision again. Where the two histories part is unknown, so no revision read
        is served (store revision 0)."""
        return self._enter(
            StoreRegressed(
                f"the store holds another write as revision {revision} than the one this "
                "replica applied: commits were lost and other writes took their revisions (an "
                "asynchronous standby promoted?); this replica refuses writes and watches until "
                f"it is restarted, and then serves the store's state; see {DOCS}",
                store_revision=0,
                applied=revision,
            )
        )

    def _enter(self, error: StoreRegressed) -> StoreRegressed:
        if self._error is not None:
            return _copy(self._error)
        self._error = error
        log.error(
            "%s",
            error.detail,
            extra={"store_revision": error.store_revision, "applied_revision": error.applied},
        )
        for listener in self._listeners:
            try:
                listener(error)
            except Exception:
                log.exception("a store-regression listener failed")
        return _copy(error)

    def check(self) -> None:
        """Raise the refusal if regressed."""
        error = self.error
        if error is not None:
            raise error

    def check_revision(self, revision: int) -> None:
        """Raise the refusal for a read at `revision` above the store's, if regressed: that
        revision no longer exists."""
        error = self.error
        if error is not None and revision > error.store_revision:
            raise error
