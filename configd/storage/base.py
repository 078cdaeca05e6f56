"""The storage interfaces: what the server needs from a durable backend.

`Storage` is what the config service needs; `StorageAdmin` what operators need besides
(backup, size); `TokenStore` where bearer tokens persist. Code above configd/storage/ reaches
a backend only through these, never its files or its driver.

Revision semantics: every ChangeSet carries its own global revision; a backend stores batches
atomically and durably, and never assigns or reorders revisions itself. Several processes
(replicas) may share one store: the store orders their writes (commit takes the store's write
lock and refuses a batch not planned on the store's last revision, StoreAhead), and each
process follows the revision log to learn what the others committed (head, next_head,
log_since). SQLite is the embedded default; PostgreSQL (configd.storage.postgresql) serves
replicas on several machines behind these same Protocols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from configd.core.errors import StorageFailure
from configd.core.model import ChangeSet, Namespace, Release, SchemaVersion
from configd.core.releases import AckRecord, ClientRecord


@dataclass(frozen=True, slots=True)
class StoredState:
    """Everything the service holds in memory, as loaded at start."""

    revision: int
    compact_revision: int
    namespaces: Mapping[str, Namespace]
    # The highest schema version each name has had; numbering continues after a re-create.
    schema_versions: Mapping[str, int]
    # Request ids of the most recent writes that carried one -> their revisions, oldest
    # first; `request_ids_complete` says it holds every id stored (else older ones are
    # asked for with revision_of_request).
    request_ids: Mapping[str, int] = field(default_factory=dict)
    request_ids_complete: bool = False


@dataclass(frozen=True, slots=True)
class StoreHead:
    """Where the store stands: its highest committed revision (by any process) and its
    compaction revision."""

    revision: int
    compact_revision: int


class StoreAhead(Exception):
    """Raised by commit: the store holds revisions the batch was not planned on (another
    process committed them). Nothing was stored; catch up to `revision` and plan again."""

    def __init__(self, revision: int) -> None:
        super().__init__(f"the store is at revision {revision}")
        self.revision = revision


class StoreBehind(StorageFailure):
    """Raised by commit: the store's highest revision (`revision`) is below the batch's base,
    the revision this process has applied. Commits it had applied are gone from the store (an
    asynchronous standby promoted with lost commits, a restore under a running server); nothing
    was stored, and no later batch can be (configd.store.regression)."""

    def __init__(self, revision: int, base: int) -> None:
        super().__init__(
            f"the store is at revision {revision}, below revision {base} that this process "
            "has applied"
        )
        self.revision = revision
        self.base = base


def check_base(stored: int, base: int) -> None:
    """Under the store's write lock: refuse a batch planned on `base` when the store's highest
    revision is `stored` (StoreAhead above, StoreBehind below). The one place both backends
    decide it."""
    if stored > base:
        raise StoreAhead(stored)
    if stored < base:
        raise StoreBehind(stored, base)


class Storage(Protocol):
    async def open(self) -> StoredState:
        """Open (creating or migrating the database) and load the current state."""
        ...

    async def close(self) -> None:
        """Close; calling it twice is harmless."""
        ...

    async def commit(self, batch: Sequence[ChangeSet]) -> None:
        """Store `batch` in one transaction; durable when this returns, nothing stored if it
        raises. Revisions are consecutive, and the first must follow the store's highest
        revision at the moment the store's write lock is held: if another process committed
        beyond `batch[0].revision - 1`, raises StoreAhead (with the store's revision) and
        stores nothing; if the store is below it (revisions this process applied are gone),
        raises StoreBehind and stores nothing. Other failures raise StorageFailure."""
        ...

    async def begin_write_turn(self, within: float) -> None:
        """Wait (up to `within` s, then Unavailable) for this process's turn to commit, and
        hold it until end_write_turn(): processes sharing the store take turns, so a batch is
        overtaken (StoreAhead) at most once while it holds the turn, never again and again."""
        ...

    def end_write_turn(self) -> None:
        """Give the turn to the next process; harmless without it."""
        ...

    async def head(self) -> StoreHead:
        """The store's head as of now (a fresh read, whoever committed)."""
        ...

    async def next_head(self, known: StoreHead, within: float) -> StoreHead:
        """Wait until the head is past `known` (a higher revision or compaction revision),
        committed by another process, or `within` seconds; return the head last noticed.
        A doorbell: it may return early or late by a poll interval, never with a wrong head
        (the head it returns was true at some moment)."""
        ...

    @property
    def noticed_head(self) -> StoreHead:
        """The head as last noticed (by the doorbell, head() or next_head), without any
        I/O: at most a poll interval old while the doorbell works."""
        ...

    async def log_since(self, after: int, limit: int) -> list[ChangeSet]:
        """The revision log: writes with revision > `after`, in revision order, at most
        `limit`, read on the follower's own connection (not behind history reads)."""
        ...

    async def report_applied(self, revision: int) -> None:
        """Record that this process has applied every revision up to `revision`, for the
        compaction floor (applied_floor). Cheap: call it as often as the follower wakes; a
        process that stops calling it for long (hung) stops counting."""
        ...

    async def applied_floor(self) -> int | None:
        """The lowest revision applied by a live process sharing the store (this one
        included), or None if none is known. Compaction never passes it (compact)."""
        ...

    @property
    def maintainer(self) -> bool:
        """Whether this process runs the store's maintenance (background compaction,
        checkpoints): exactly one of the processes sharing the store does."""
        ...

    async def history(
        self, namespace: str, key: str | None, before_revision: int, limit: int
    ) -> list[ChangeSet]:
        """Writes to `namespace` (touching `key`, if given) with revision < before_revision
        (0 = no bound), newest first, at most `limit`. Compacted writes are gone."""
        ...

    async def revision_of_request(self, request_id: str) -> int | None:
        """The revision of the write stored with this request id, or None if none is stored
        (never written, or compacted away)."""
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

    async def release(self, namespace: str, release_id: int) -> Release | None:
        """Release `release_id` of `namespace` as stored (ended ones with their outcome), or
        with `release_id` 0 the newest one; None if there is none. Never compacted."""
        ...

    async def compact(self, revision: int) -> None:
        """Drop history below `revision`, keeping what namespace_at needs for any revision at
        or above it; the compaction revision becomes `revision` (never lower than before).
        Every revision >= `revision` stays in the log, so a process that has applied A can
        still catch up when `revision` <= A + 1: raises ReplicaBehind, dropping nothing, if
        `revision` > applied_floor() + 1, checked under the store's write lock."""
        ...


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A verified backup file: its revision, compaction revision and namespace count."""

    path: Path
    revision: int
    compact_revision: int
    namespaces: int
    schema_version: int  # the backend's own (database schema) version, not a namespace schema
    size: int
    sha256: str


class StorageAdmin(Protocol):
    """Operations on a backend that are not about configuration. Separate from Storage, so
    that what the service runs on needs no more than Storage."""

    async def backup(self, dest: Path) -> BackupInfo:
        """Write one consistent snapshot of the stored state to the file `dest` (replaced):
        every write up to BackupInfo.revision and none after, while writes go on. Raises
        StorageFailure if it cannot; the stored state is never changed."""
        ...

    def disk_bytes(self) -> int:
        """Bytes the stored state occupies now (cheap: called at every metrics scrape)."""
        ...


class ClientStore(Protocol):
    """Where the clients watching every replica and their acknowledgements persist, so any
    replica can tell a release's progress (configd.core.releases). Not revisioned: these
    rows are reports, not configuration. Writes are durable when the call returns; failures
    raise StorageFailure."""

    async def record_clients(
        self, clients: Sequence[ClientRecord], acks: Sequence[AckRecord]
    ) -> None:
        """In one transaction: replace each client's row (by client id), and merge each ack
        into its (namespace, client id) row: the applied side and the rejected side each keep
        the higher revision (with its time, and for the rejected side its reason)."""
        ...

    async def touch_clients(self, replica: str, seen_at: float) -> None:
        """Set seen_at of every connected client of `replica` (a heartbeat)."""
        ...

    async def disconnect_replica(self, replica: str, when: float) -> None:
        """Mark every client of `replica` disconnected at `when` (the replica stops)."""
        ...

    async def load_clients(self, seen_after: float) -> list[ClientRecord]:
        """Every client seen at or after `seen_after` (connected or not), by client id."""
        ...

    async def load_acks(self, namespace: str) -> list[AckRecord]:
        """Every ack row of `namespace`."""
        ...

    async def forget_clients(self, seen_before: float) -> None:
        """Delete clients (and their ack rows) not connected and not seen since
        `seen_before`."""
        ...


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A bearer token as stored: the sha256 of its secret, never the secret."""

    name: str
    hash: bytes
    grants: tuple[tuple[str, int], ...]  # (namespace prefix, role number)
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    created_by: str


@dataclass(frozen=True, slots=True)
class TokenChanges:
    """Tokens as stored and the token generation a reader is at once it has applied them."""

    generation: int
    tokens: tuple[StoredToken, ...]


class TokenStore(Protocol):
    """Where tokens persist, shared by every process serving the same store.

    Every change (insert, replace, revoke) is durable when the call returns and takes the
    store's next *token generation*. Generations become visible in increasing order (the
    backend serialises token writes, as SQLite's write lock or a row lock held to COMMIT
    does; never a sequence whose values commit out of order), so a process that applied every
    change up to generation G and reads the changes after G misses none. Rows are never
    deleted (a name means one token forever; a replaced token's row takes the new
    generation). Failures raise StorageFailure."""

    async def open(self) -> TokenChanges:
        """Open (the Storage of the same data must be open already) and return every token,
        revoked ones included, in name order, with the generation they are at."""
        ...

    async def close(self) -> None:
        """Close; calling it twice is harmless."""
        ...

    async def changes_since(self, generation: int) -> TokenChanges:
        """The current row of every token changed after `generation` (an indexed read), in
        generation order, and the highest generation among them (`generation` if none)."""
        ...

    async def wait_change(self, known: int, within: float) -> None:
        """Return once the store's token generation is noticed past `known` (a change by any
        process, this one included), or after `within` seconds. A doorbell: it may return
        early or late by a poll interval; changes_since tells what changed."""
        ...

    async def insert(self, token: StoredToken) -> None:
        """Store a new token; AlreadyExists if its name was ever used."""
        ...

    async def insert_first(self, token: StoredToken) -> bool:
        """Store `token` only if no token was ever stored, atomically against every process
        (the bootstrap admin token); True if this call stored it."""
        ...

    async def replace(self, token: StoredToken) -> None:
        """Store `token`, replacing any token of the same name (the admin token set by
        --admin-token)."""
        ...

    async def revoke(self, name: str, when: float) -> StoredToken | None:
        """Mark the token `name` revoked at `when` (epoch seconds) unless it is already;
        return its row as stored now (revoked, by this call or an earlier one), or None if
        there is no such token."""
        ...
