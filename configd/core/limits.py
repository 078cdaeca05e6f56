"""Size and count limits: one place that states them, flags can change them."""

from __future__ import annotations

from dataclasses import dataclass

from configd.core.errors import LimitExceeded
from configd_client.wire import limits as default
from configd_client.wire.limits import KIB, MIB

__all__ = ["KIB", "MIB", "PER_PROCESS", "Limits"]


PER_PROCESS = frozenset({"max_watchers_per_token", "max_writes_per_second"})
"""The limits each serving process counts on its own (in memory, over the calls and streams it
serves): under `configd serve --workers N`, or N replicas, a token may reach N times the value,
since each connection stays on one process. Every other limit bounds one request, or is checked
in a write's plan against the state caught up to the store (max_namespaces,
max_keys_per_namespace, max_document_bytes), so it holds for all processes together. (The
total of open watch streams, WatchOptions.max_watchers, is per process too.)"""


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits enforced by the service; each breach is RESOURCE_EXHAUSTED naming the limit.

    The defaults are configd_client.wire.limits, the one definition the SDK and CLI share."""

    max_name_bytes: int = default.MAX_NAME_BYTES
    max_key_bytes: int = default.MAX_KEY_BYTES
    max_value_bytes: int = default.MAX_VALUE_BYTES
    max_document_bytes: int = default.MAX_DOCUMENT_BYTES
    max_schema_bytes: int = default.MAX_SCHEMA_BYTES
    max_request_bytes: int = default.MAX_REQUEST_BYTES
    max_keys_per_namespace: int = default.MAX_KEYS_PER_NAMESPACE
    max_namespaces: int = default.MAX_NAMESPACES
    max_ops_per_txn: int = default.MAX_OPS_PER_TXN
    max_message_bytes: int = default.MAX_MESSAGE_BYTES
    max_page_size: int = default.MAX_PAGE_SIZE
    default_page_size: int = default.DEFAULT_PAGE_SIZE
    # Per authenticated token (enforced by configd.api.auth; not with --no-auth).
    max_watchers_per_token: int = default.MAX_WATCHERS_PER_TOKEN
    max_writes_per_second: int = default.MAX_WRITES_PER_SECOND

    def check_size(self, limit: str, size: int, what: str) -> None:
        """Raise LimitExceeded when `size` bytes exceed the limit named `limit`."""
        allowed: int = getattr(self, limit)
        if size > allowed:
            raise LimitExceeded(
                f"{what} is {size} bytes, over the limit of {allowed} bytes ({limit}); "
                "store less or raise the limit",
                limit=limit,
                value=allowed,
                field=what,
            )

    def page_size(self, requested: int) -> int:
        """The page size to use: the default for 0, capped at max_page_size."""
        if requested <= 0:
            return self.default_page_size
        return min(requested, self.max_page_size)
