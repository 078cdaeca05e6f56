"""configd's Python SDK: watch namespaces, read values locally, get atomic hot reloads.

    from configd_client import ConfigClient

    with ConfigClient("payments/prod", cache_path="/var/cache/payments.json") as config:
        timeout = config.get("timeout_ms", 500)

`AsyncConfigClient` is the same client for asyncio programs; `WatchStream` is the watch
stream itself (every change set, resumed across reconnects) for programs that want the events.
"""

from importlib.metadata import version as _version

from configd_client._bind import BindError
from configd_client._channel import ConnectOptions, TLSOptions
from configd_client._client import AsyncConfigClient
from configd_client._options import ClientOptions
from configd_client._snapshot import Snapshot
from configd_client._state import ClientState, ClientStatus, Rejection
from configd_client._stream import WatchStream
from configd_client._sync import ConfigClient
from configd_client.errors import (
    AlreadyExists,
    CheckRefused,
    ConfigdError,
    FutureRevision,
    InternalError,
    InvalidArgument,
    InvalidSchema,
    KeyNotFound,
    LimitExceeded,
    NamespaceNotEmpty,
    NamespaceNotFound,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RevisionCompacted,
    SchemaViolation,
    StorageFailure,
    Unauthenticated,
    Unavailable,
)

# One source: the version in clients/python/pyproject.toml, as installed.
__version__ = _version("configd-client")

__all__ = [
    "AlreadyExists",
    "AsyncConfigClient",
    "BindError",
    "CheckRefused",
    "ClientOptions",
    "ClientState",
    "ClientStatus",
    "ConfigClient",
    "ConfigdError",
    "ConnectOptions",
    "FutureRevision",
    "InternalError",
    "InvalidArgument",
    "InvalidSchema",
    "KeyNotFound",
    "LimitExceeded",
    "NamespaceNotEmpty",
    "NamespaceNotFound",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "Rejection",
    "RevisionCompacted",
    "SchemaViolation",
    "Snapshot",
    "StorageFailure",
    "TLSOptions",
    "Unauthenticated",
    "Unavailable",
    "WatchStream",
]
