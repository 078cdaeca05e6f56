"""What a client reports about itself: `ClientState` and the immutable `ClientStatus`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

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
class ClientStatus:
    """A consistent picture of the client at one moment (a new object on every change).

    `revision` is the newest revision the client has processed (change sets and the server's
    idle progress reports): every watched change up to it has been applied or rejected.
    `rejected` names the namespaces whose newest document failed the client's schema check;
    for those the client keeps serving the last good document until a valid one arrives.
    """

    state: ClientState
    revision: int = 0
    last_update: datetime | None = None
    """When the client last swapped in new values (UTC)."""
    last_error: ConfigdError | None = None
    """The last failure (connection, credentials, invalid document); kept after recovery."""
    rejected: frozenset[str] = field(default_factory=frozenset)
    cache_revision: int | None = None
    """The revision of the cache file the client started from, if it did."""

    @property
    def connected(self) -> bool:
        return self.state is ClientState.CONNECTED
