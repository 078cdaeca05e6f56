"""Size and count limits: one place that states them, flags can change them."""

from __future__ import annotations

from dataclasses import dataclass

from configd.core.errors import LimitExceeded

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits enforced by the service; each breach is RESOURCE_EXHAUSTED naming the limit."""

    max_name_bytes: int = 200
    max_key_bytes: int = 256
    max_value_bytes: int = 256 * KIB
    max_document_bytes: int = 1 * MIB
    max_schema_bytes: int = 256 * KIB
    max_request_bytes: int = 4 * MIB
    max_keys_per_namespace: int = 10_000
    max_namespaces: int = 10_000
    max_ops_per_txn: int = 1_000
    max_message_bytes: int = 4 * KIB
    max_page_size: int = 1_000
    default_page_size: int = 100
    # Per authenticated token (enforced by configd.api.auth; not with --no-auth).
    max_watchers_per_token: int = 1_000
    max_writes_per_second: int = 100

    def check_size(self, limit: str, size: int, what: str) -> None:
        """Raise LimitExceeded when `size` bytes exceed the limit named `limit`."""
        allowed: int = getattr(self, limit)
        if size > allowed:
            raise LimitExceeded(
                f"{what} is {size} bytes, over the limit of {allowed} bytes ({limit}); "
                "store less or raise the limit",
                limit=limit,
                value=allowed,
            )

    def page_size(self, requested: int) -> int:
        """The page size to use: the default for 0, capped at max_page_size."""
        if requested <= 0:
            return self.default_page_size
        return min(requested, self.max_page_size)
