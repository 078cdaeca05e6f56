"""What a client reports about itself: `ClientState` and the immutable `ClientStatus`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from configd_client.errors import ConfigdError


class ClientState(enum.Enum):
    """Where the client's values come from right now."""

    STARTING = "starting"
    """start() is running; no values yet."""
    CONNECTED = "connected"
    """Watching the server; values are current (as of `ClientStatus.revision`)."""
    RECONNECTING = "reconnecting"
    """The watch broke; values are the last ones received, and the client keeps retrying."""
    FROM_CACHE = "from-cache"
    """Started from the cache file because the server was unreachable; still retrying."""
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A revision of one namespace that the client refused to serve (readers kept the previous
    snapshot): its schema check or a check added with add_check vetoed it."""

    namespace: str
    revision: int
    reason: str
    """Why, as the server was told it (the check's message, or the schema violation)."""
    at: datetime
    """When the client refused it (UTC)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "revision": self.revision,
            "reason": self.reason,
            "at": _iso(self.at),
        }


@dataclass(frozen=True, slots=True)
class ClientStatus:
    """A consistent picture of the client at one moment (a new object on every change).

    What a service's status endpoint shows; `as_dict()` gives it as JSON-ready values.
    """

    state: ClientState
    revision: int = 0
    """The revision of the values being served: every watched change up to it has been applied
    or rejected (change sets and the server's idle progress reports move it). From the cache,
    the cache file's revision. 0 before any values."""
    source: Literal["server", "cache"] | None = None
    """Where the values being served came from: the server's watch stream, or the cache file
    (start() could not reach the server). None before any values."""
    last_update: datetime | None = None
    """When the values being served were received from the server (UTC); from the cache, when
    the cache file was written."""
    error: ConfigdError | None = None
    """What is wrong now, None when nothing is: the watch is broken (Unavailable,
    Unauthenticated, ...), a watched namespace does not exist (NamespaceNotFound), or a
    namespace's newest document was rejected (SchemaViolation). Cleared as soon as the cause
    is gone: a reconnect, the namespace created, a valid document."""
    last_error: ConfigdError | None = None
    """The most recent error, kept after recovery (with `last_error_at`), for diagnosis."""
    last_error_at: datetime | None = None
    """When `last_error` happened (UTC)."""
    rejected: frozenset[str] = field(default_factory=frozenset)
    """Namespaces whose newest document failed the client's schema check; for those the client
    keeps serving the last good document until a valid one arrives."""
    missing: frozenset[str] = field(default_factory=frozenset)
    """Watched namespaces (exact names) that the server says do not exist: their values are
    the defaults passed to get(). A prefix that matches nothing is not missing."""
    cache_revision: int | None = None
    """The revision of the cache file the client started from, if it did."""
    last_rejection: Rejection | None = None
    """The most recent revision the client refused (schema check or add_check), kept until a
    later revision of that namespace is applied, then None."""

    @property
    def connected(self) -> bool:
        return self.state is ClientState.CONNECTED

    def as_dict(self) -> dict[str, Any]:
        """The status as JSON-ready values (times in ISO 8601, errors as their message)."""
        return {
            "state": self.state.value,
            "revision": self.revision,
            "source": self.source,
            "last_update": _iso(self.last_update),
            "error": str(self.error) if self.error is not None else None,
            "last_error": str(self.last_error) if self.last_error is not None else None,
            "last_error_at": _iso(self.last_error_at),
            "rejected": sorted(self.rejected),
            "missing": sorted(self.missing),
            "cache_revision": self.cache_revision,
            "last_rejection": (
                self.last_rejection.as_dict() if self.last_rejection is not None else None
            ),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
