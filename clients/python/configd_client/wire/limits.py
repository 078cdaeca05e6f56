"""configd's default limits: each defined once, for the server, the SDK and configctl.

The server enforces them (`configd.core.limits.Limits` takes its defaults from here, and flags
can change them); the SDK and configctl use them where they must agree with the server.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

MAX_NAME_BYTES = 200  # a namespace name (docs/architecture.md, "The data model")
MAX_KEY_BYTES = 256  # a key: non-empty UTF-8 without control characters
MAX_JSON_DEPTH = 64  # nesting of arrays and objects in any JSON text configd reads
MAX_VALUE_BYTES = 256 * KIB
MAX_DOCUMENT_BYTES = 1 * MIB
MAX_SCHEMA_BYTES = 256 * KIB
MAX_REQUEST_BYTES = 4 * MIB
MAX_KEYS_PER_NAMESPACE = 10_000
MAX_NAMESPACES = 10_000
MAX_OPS_PER_TXN = 1_000
MAX_MESSAGE_BYTES = 4 * KIB  # a write's message (kept in history)
MAX_PAGE_SIZE = 1_000
DEFAULT_PAGE_SIZE = 100
MAX_WATCHERS_PER_TOKEN = 1_000
MAX_WRITES_PER_SECOND = 100
# ReleaseService.Ack: outcomes per call, and the bytes of a rejection's reason.
MAX_ACKS_PER_CALL = 1_000
MAX_ACK_REASON_BYTES = 1_024
# A gRPC message either side may send or receive (a whole snapshot of large namespaces).
MAX_GRPC_MESSAGE_BYTES = 64 * MIB


def serve_flag(limit: str) -> str:
    """The `configd serve` flag that sets the limit named `limit` (`max_value_bytes` ->
    `--max-value-bytes`): the server declares its flags by this rule, and configctl names them
    with it when a limit refuses a write."""
    return "--" + limit.replace("_", "-")
