"""Frozen data types shared by the layers (storage, service, watch, api).

Nothing here knows about gRPC, protobuf or SQLite. JSON values are kept twice: as their
canonical JSON text (what is stored and sent, exact for big integers) and parsed (what the
schema validator sees). Parsed values are never mutated after construction.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from configd_client.errors import FieldViolation

JSONValue = Any


class WriteKind(enum.Enum):
    """What kind of write produced a revision (mirrors configd.v1.WriteKind)."""

    PUT = 1
    DELETE = 2
    TXN = 3
    APPLY = 4
    ROLLBACK = 5
    SET_SCHEMA = 6
    CREATE_NAMESPACE = 7
    DELETE_NAMESPACE = 8
    # Releases (configd.core.releases): a start or an abort changes what the release's slice
    # of clients sees, never the namespace's document; a promotion is an ordinary write.
    RELEASE_START = 9
    RELEASE_PROMOTE = 10
    RELEASE_ABORT = 11


@dataclass(frozen=True, slots=True)
class Entry:
    """One key's value with its etcd-style metadata."""

    value_json: str
    value: JSONValue = field(compare=False, repr=False)
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """A namespace's schema at one version; `revision` is the write that set it."""

    version: int
    schema_json: str
    revision: int


@dataclass(frozen=True, slots=True)
class Namespace:
    """A namespace's state at one revision; `mod_revision` is its namespace revision."""

    name: str
    create_revision: int
    mod_revision: int
    schema: SchemaVersion
    entries: Mapping[str, Entry]
    # Bytes of the document as JSON text (computed when not given; writes pass it on).
    size: int = -1
    # The release running on this namespace (configd.core.releases), if any: while it runs,
    # its slice of clients sees the staged document and direct writes are refused.
    release: Release | None = None

    def __post_init__(self) -> None:
        if self.size < 0:
            total = sum(key_bytes(key, entry) for key, entry in self.entries.items())
            object.__setattr__(self, "size", total)

    def document(self) -> dict[str, JSONValue]:
        """The parsed document, as the schema validator sees it."""
        return {key: entry.value for key, entry in self.entries.items()}

    def document_view(self) -> DocumentView:
        """The parsed document without building it: a write that checks only its changed
        keys should not pay for every key of a large namespace."""
        return DocumentView(self.entries)

    def document_json(self) -> str:
        """The document as JSON text, built from each value's canonical text."""
        parts = [
            f"{json.dumps(key, ensure_ascii=False)}:{entry.value_json}"
            for key, entry in sorted(self.entries.items())
        ]
        return "{" + ",".join(parts) + "}"


class DocumentView(Mapping[str, JSONValue]):
    """A read-only mapping of key -> parsed value over a namespace's entries."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self._entries = entries

    def __getitem__(self, key: str) -> JSONValue:
        return self._entries[key].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def key_bytes(key: str, entry: Entry) -> int:
    """What one key adds to the document's JSON text: `"key":value,`."""
    return len(key.encode()) + len(entry.value_json.encode()) + 4


def frozen_entries(entries: Mapping[str, Entry]) -> Mapping[str, Entry]:
    """A read-only view over a private copy, so a published Namespace never changes."""
    return MappingProxyType(dict(entries))


@dataclass(frozen=True, slots=True)
class KeyChange:
    """What one write did to one key; None on a side means absent on that side."""

    key: str
    old: Entry | None
    new: Entry | None


class ReleaseState(enum.Enum):
    """Where a release stands (mirrors configd.v1.ReleaseState)."""

    RUNNING = 1
    PROMOTED = 2
    ABORTED = 3


@dataclass(frozen=True, slots=True)
class Release:
    """A namespace's new document staged for a labelled slice of its clients.

    Fixed when it starts, except the ending fields, which its promotion or abort sets.
    `changes` turn the namespace's document as of the start into the staged one, with the
    entries the slice sees (mod_revision = the start revision)."""

    id: int  # its start revision
    namespace: str
    selectors: tuple[tuple[str, str], ...]  # (label, value): every one must match
    percent: int  # 1-100 of the matching clients, by a stable hash of the client id
    max_failures: int | None  # aborts itself when more clients reject it; None = never
    bake_seconds: float  # promotes itself this long after all applied it; 0 = never
    changes: tuple[KeyChange, ...]
    started_by: str
    message: str
    started_at: float
    # The namespace revision it started on: what clients outside the slice still see.
    base_revision: int = 0
    state: ReleaseState = ReleaseState.RUNNING
    end_revision: int = 0
    ended_by: str = ""
    end_message: str = ""
    ended_at: float = 0.0
    # At its end, each targeted client's outcome, as JSON text (configd.core.releases).
    outcome_json: str = ""


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Everything one revision changed in one namespace.

    The same record is the unit of storage, of history and of the watch stream. `schema` is
    the schema in force after the write, so readers can validate without another lookup; the
    write set it when `schema.revision == revision` (CREATE_NAMESPACE, SET_SCHEMA, or an APPLY
    that carried a schema).
    """

    revision: int
    namespace: str
    kind: WriteKind
    changes: tuple[KeyChange, ...]
    author: str
    message: str
    time: float
    schema: SchemaVersion
    create_revision: int
    # The client's request id ("" = none): a retry with it returns this revision
    # (configd.core.requests).
    request_id: str = ""
    # For the RELEASE_* kinds, the release (as it stands after this write).
    release: Release | None = None

    @property
    def sets_schema(self) -> bool:
        """Whether this write set the namespace's schema."""
        return self.schema.revision == self.revision

    @property
    def for_slice(self) -> bool:
        """Whether `changes` are for the release's slice only (a start or an abort): the
        namespace's document is unchanged, and only the slice's watchers are sent it."""
        return self.kind in (WriteKind.RELEASE_START, WriteKind.RELEASE_ABORT)


@dataclass(frozen=True, slots=True)
class KeyModRevision:
    """Precondition: the key's mod_revision equals `mod_revision`."""

    key: str
    mod_revision: int


@dataclass(frozen=True, slots=True)
class KeyAbsent:
    """Precondition: the key does not exist."""

    key: str


@dataclass(frozen=True, slots=True)
class NamespaceRevision:
    """Precondition: the namespace revision (its last write) equals `revision`."""

    revision: int


Precondition = KeyModRevision | KeyAbsent | NamespaceRevision


@dataclass(frozen=True, slots=True)
class TxnPut:
    key: str
    value_json: str


@dataclass(frozen=True, slots=True)
class TxnDelete:
    key: str


TxnOp = TxnPut | TxnDelete


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A committed write: its revision, the namespace after it (None once deleted)."""

    change_set: ChangeSet
    namespace: Namespace | None

    @property
    def revision(self) -> int:
        return self.change_set.revision


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """Apply's outcome. On a dry run `revision` is 0 and `violations` says why it is invalid."""

    revision: int
    namespace_revision: int
    changes: tuple[KeyChange, ...]
    violations: tuple[FieldViolation, ...] = ()
    schema_changed: bool = False

    @property
    def valid(self) -> bool:
        return not self.violations


@dataclass(frozen=True, slots=True)
class NamespaceView:
    """A namespace as read at `revision`, with the server's current and compaction revisions."""

    namespace: Namespace
    revision: int
    current_revision: int
    compact_revision: int


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Newest first; `next_before` is the revision to continue below, or 0 at the end."""

    entries: tuple[ChangeSet, ...]
    next_before: int
    compact_revision: int


EMPTY_ENTRIES: Mapping[str, Entry] = MappingProxyType({})
