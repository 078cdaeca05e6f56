"""The storage interface: what the service needs from a durable backend.

Revision semantics: every ChangeSet carries its own global revision; a backend stores batches
atomically and durably, and never assigns or reorders revisions itself. SQLite is the embedded
default; a PostgreSQL backend is planned behind this same Protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from configd.core.model import ChangeSet, Namespace, SchemaVersion


@dataclass(frozen=True, slots=True)
class StoredState:
    """Everything the service holds in memory, as loaded at start."""

    revision: int
    compact_revision: int
    namespaces: Mapping[str, Namespace]
    # The highest schema version each name has had; numbering continues after a re-create.
    schema_versions: Mapping[str, int]


class Storage(Protocol):
    async def open(self) -> StoredState:
        """Open (creating or migrating the database) and load the current state."""
        ...

    async def close(self) -> None:
        """Close; calling it twice is harmless."""
        ...

    async def commit(self, batch: Sequence[ChangeSet]) -> None:
        """Store `batch` in one transaction; durable when this returns, nothing stored if it
        raises (StorageFailure). Revisions are consecutive and above every stored one."""
        ...

    async def history(
        self, namespace: str, key: str | None, before_revision: int, limit: int
    ) -> list[ChangeSet]:
        """Writes to `namespace` (touching `key`, if given) with revision < before_revision
        (0 = no bound), newest first, at most `limit`. Compacted writes are gone."""
        ...

    async def change_set(self, revision: int) -> ChangeSet | None:
        """The write with this revision, or None if compacted or never written."""
        ...

    async def changes_since(self, start_revision: int, limit: int) -> list[ChangeSet]:
        """Writes with revision >= start_revision in revision order, at most `limit`."""
        ...

    async def namespace_at(self, name: str, revision: int) -> Namespace | None:
        """The namespace as it was after `revision` (>= the compaction revision), or None if it
        did not exist then."""
        ...

    async def schema(self, namespace: str, version: int) -> SchemaVersion | None:
        """Schema `version` of `namespace`, or None if there is no such version."""
        ...

    async def revision_at(self, when: float) -> int:
        """The newest revision committed at or before `when` (epoch seconds), or 0."""
        ...

    async def compact(self, revision: int) -> None:
        """Drop history below `revision`, keeping what namespace_at needs for any revision at
        or above it; the compaction revision becomes `revision`."""
        ...
