"""Rows as every SQL backend stores them: one place that turns a batch into table rows and
table rows back into ChangeSets, entries and tokens, so SQLite and PostgreSQL store and read
the same data model (only their SQL and drivers differ)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from configd.core.errors import StorageFailure
from configd.core.model import (
    ChangeSet,
    Entry,
    KeyChange,
    Namespace,
    Release,
    ReleaseState,
    SchemaVersion,
    WriteKind,
    frozen_entries,
)
from configd.core.releases import abort_changes
from configd.storage.base import StoredState, StoredToken, TokenChanges
from configd.storage.release_rows import (
    RELEASE_COLUMNS,
    release_end_row,
    release_row,
    stored_release,
)

Row = Sequence[Any]


def entry(value: str, create_revision: int, mod_revision: int, version: int) -> Entry:
    return Entry(value, json.loads(value), create_revision, mod_revision, version)


@dataclass(frozen=True, slots=True)
class BatchRows:
    """What storing a batch writes, table by table (columns in each table's order)."""

    revisions: list[tuple[Any, ...]]
    changes: list[tuple[Any, ...]]
    schemas: list[tuple[Any, ...]]
    kv_upserts: list[tuple[Any, ...]]
    kv_removals: list[tuple[Any, ...]]
    namespace_upserts: list[tuple[Any, ...]]
    namespace_removals: list[tuple[Any, ...]]
    # RELEASE_COLUMNS of each release started, and RELEASE_END_COLUMNS + id of each ended.
    release_inserts: list[tuple[Any, ...]]
    release_ends: list[tuple[Any, ...]]


def batch_rows(batch: Sequence[ChangeSet]) -> BatchRows:
    """The rows of `batch`; kv and namespaces get each key's and namespace's final state.

    A release's start and abort (ChangeSet.for_slice) change no key of the document: their
    changes are the release's (kept in its row), so they write no changes or kv rows; the
    namespace's revision moves as for every write."""
    revisions, changes, schemas = [], [], []
    release_inserts, release_ends = [], []
    final_kv: dict[tuple[str, str], Entry | None] = {}
    final_ns: dict[str, tuple[int, int, int] | None] = {}
    for cs in batch:
        revisions.append(
            (
                cs.revision,
                cs.namespace,
                cs.kind.value,
                cs.author,
                cs.message,
                cs.time,
                cs.schema.version,
                cs.create_revision,
                cs.request_id or None,
            )
        )
        if cs.release is not None and cs.kind is WriteKind.RELEASE_START:
            release_inserts.append(release_row(cs.release))
        elif cs.release is not None:
            release_ends.append(release_end_row(cs.release))
        for change in () if cs.for_slice else cs.changes:
            old, new = change.old, change.new
            changes.append(
                (
                    cs.namespace,
                    change.key,
                    cs.revision,
                    old.value_json if old else None,
                    old.create_revision if old else None,
                    old.mod_revision if old else None,
                    old.version if old else None,
                    new.value_json if new else None,
                    new.create_revision if new else None,
                    new.version if new else None,
                )
            )
            final_kv[(cs.namespace, change.key)] = new
        if cs.sets_schema:
            schemas.append((cs.namespace, cs.schema.version, cs.revision, cs.schema.schema_json))
        final_ns[cs.namespace] = (
            None
            if cs.kind is WriteKind.DELETE_NAMESPACE
            else (cs.create_revision, cs.revision, cs.schema.version)
        )
    return BatchRows(
        revisions,
        changes,
        schemas,
        [
            (ns, key, e.value_json, e.create_revision, e.mod_revision, e.version)
            for (ns, key), e in final_kv.items()
            if e is not None
        ],
        [(ns, key) for (ns, key), e in final_kv.items() if e is None],
        [(name, *state) for name, state in final_ns.items() if state is not None],
        [(name,) for name, state in final_ns.items() if state is None],
        release_inserts,
        release_ends,
    )


REVISION_COLUMNS = (
    "revision, namespace, kind, author, message, time, schema_version, create_revision, request_id"
)
"""The columns of `revisions` a ChangeSet is read from, in the order change_sets() takes."""

CHANGE_COLUMNS = (
    "revision, key, old_value, old_create_revision, old_mod_revision, old_version,"
    " new_value, new_create_revision, new_version"
)
"""The columns of `changes` a KeyChange is read from (ordered by revision, key)."""


async def change_sets(
    heads: Sequence[Row],
    change_rows: Iterable[Row],
    schema: Callable[[str, int], Awaitable[SchemaVersion]],
    release_rows: Iterable[Row] = (),
) -> list[ChangeSet]:
    """ChangeSets from rows of REVISION_COLUMNS, the CHANGE_COLUMNS rows of the same
    revisions and the RELEASE_COLUMNS rows of their releases (release_rows_sql());
    `schema(namespace, version)` finds each write's schema."""
    by_revision: dict[int, list[KeyChange]] = {int(row[0]): [] for row in heads}
    for row in change_rows:
        old = entry(row[2], row[3], row[4], row[5]) if row[2] is not None else None
        new = entry(row[6], row[7], row[0], row[8]) if row[6] is not None else None
        by_revision[int(row[0])].append(KeyChange(row[1], old, new))
    releases = [stored_release(row) for row in release_rows]
    started = {r.id: r for r in releases}
    ended = {r.end_revision: r for r in releases if r.end_revision}
    found: list[ChangeSet] = []
    for row in heads:
        revision, kind = int(row[0]), WriteKind(row[2])
        changes = tuple(by_revision[revision])
        release: Release | None = None
        if kind is WriteKind.RELEASE_START:
            release = _as_started(_require_release(started, revision))
            changes = release.changes
        elif kind in (WriteKind.RELEASE_PROMOTE, WriteKind.RELEASE_ABORT):
            release = _require_release(ended, revision)
            if kind is WriteKind.RELEASE_ABORT:
                changes = abort_changes(release)
        found.append(
            ChangeSet(
                revision=row[0],
                namespace=row[1],
                kind=kind,
                changes=changes,
                author=row[3],
                message=row[4],
                time=row[5],
                schema=await schema(row[1], row[6]),
                create_revision=row[7],
                request_id=row[8] or "",
                release=release,
            )
        )
    return found


def release_revisions(heads: Sequence[Row]) -> list[int]:
    """The revisions among rows of REVISION_COLUMNS whose change sets need their release."""
    return [int(row[0]) for row in heads if row[2] in _RELEASE_KINDS]


_RELEASE_KINDS = frozenset(
    k.value for k in (WriteKind.RELEASE_START, WriteKind.RELEASE_PROMOTE, WriteKind.RELEASE_ABORT)
)


def _require_release(releases: dict[int, Release], revision: int) -> Release:
    release = releases.get(revision)
    if release is None:
        raise StorageFailure(f"the release of revision {revision} is missing from the store")
    return release


def _as_started(release: Release) -> Release:
    """The release as its start left it: the row may have ended since, and a change set is
    the record of one revision, the same however late it is read."""
    return replace(
        release,
        state=ReleaseState.RUNNING,
        end_revision=0,
        ended_by="",
        end_message="",
        ended_at=0.0,
        outcome_json="",
    )


NAMESPACE_HEAD_COLUMNS = "revision, kind, schema_version, create_revision"
"""The columns of a namespace's newest `revisions` row that namespace_at() starts from."""


def namespace_at(name: str, head: Row, key_rows: Iterable[Row], schema: SchemaVersion) -> Namespace:
    """The namespace as of a revision: from its newest write at or below it (a row of
    NAMESPACE_HEAD_COLUMNS, not a deletion) and each key's newest change at or below it
    since its creation (key, new_value, new_create_revision, revision, new_version)."""
    mod_revision, _, _, create_revision = head
    entries = {
        key: entry(value, key_create, key_mod, version)
        for key, value, key_create, key_mod, version in key_rows
        if value is not None
    }
    return Namespace(name, create_revision, mod_revision, schema, frozen_entries(entries))


def deleted(head: Row) -> bool:
    """Whether a row of NAMESPACE_HEAD_COLUMNS deleted its namespace."""
    return bool(head[1] == WriteKind.DELETE_NAMESPACE.value)


# -- tokens ------------------------------------------------------------------------------

TOKEN_COLUMNS = "name, hash, grants, created_at, expires_at, revoked_at, created_by"


def token_row(token: StoredToken) -> tuple[object, ...]:
    """The values of TOKEN_COLUMNS for `token`."""
    return (
        token.name,
        token.hash,
        json.dumps([list(g) for g in token.grants]),
        token.created_at,
        token.expires_at,
        token.revoked_at,
        token.created_by,
    )


def stored_token(row: Sequence[object]) -> StoredToken:
    """A token from a row of TOKEN_COLUMNS (more columns may follow)."""
    name, digest, grants, created_at, expires_at, revoked_at, created_by = row[:7]
    return StoredToken(
        str(name),
        bytes(digest),  # type: ignore[call-overload]
        tuple((str(p), int(r)) for p, r in json.loads(str(grants))),
        float(created_at),  # type: ignore[arg-type]
        None if expires_at is None else float(expires_at),  # type: ignore[arg-type]
        None if revoked_at is None else float(revoked_at),  # type: ignore[arg-type]
        str(created_by),
    )


def token_changes(rows: Sequence[Sequence[object]], generation: int) -> TokenChanges:
    """Rows of TOKEN_COLUMNS + generation. The generation reached is taken from the rows read
    (one snapshot), never from a second query that could see a later change than the rows."""
    top = max((int(row[7]) for row in rows), default=generation)  # type: ignore[call-overload]
    return TokenChanges(max(top, generation), tuple(stored_token(row) for row in rows))


# -- loading -------------------------------------------------------------------------------

SCHEMA_ROWS_SQL = "SELECT namespace, version, revision, schema FROM schemas"
KV_ROWS_SQL = "SELECT namespace, key, value, create_revision, mod_revision, version FROM kv"
NAMESPACE_ROWS_SQL = "SELECT name, create_revision, mod_revision, schema_version FROM namespaces"
RUNNING_RELEASES_SQL = (
    f"SELECT {RELEASE_COLUMNS} FROM releases WHERE state = {ReleaseState.RUNNING.value}"
)


class SchemaCache:
    """Schema versions by (namespace, version). They never change once written: loaded at
    open, added on commit, and read on first use when another process wrote them."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], SchemaVersion] = {}

    def load(self, rows: Iterable[Row]) -> None:
        """Rows of SCHEMA_ROWS_SQL."""
        for ns, version, revision, text in rows:
            self.versions[(ns, version)] = SchemaVersion(version, text, revision)

    def committed(self, batch: Sequence[ChangeSet]) -> None:
        for cs in batch:
            if cs.sets_schema:
                self.versions[(cs.namespace, cs.schema.version)] = cs.schema

    async def get(
        self,
        namespace: str,
        version: int,
        read: Callable[[str, int], Awaitable[Sequence[Row]]],
    ) -> SchemaVersion | None:
        """The version, read with `read(namespace, version)` (rows of revision, schema) if
        not known yet."""
        schema = self.versions.get((namespace, version))
        if schema is None:
            rows = await read(namespace, version)
            if rows:
                schema = SchemaVersion(version, rows[0][1], rows[0][0])
                self.versions[(namespace, version)] = schema
        return schema

    async def require(
        self,
        namespace: str,
        version: int,
        read: Callable[[str, int], Awaitable[Sequence[Row]]],
    ) -> SchemaVersion:
        """get(), or StorageFailure: a write names a schema version the store lacks."""
        schema = await self.get(namespace, version, read)
        if schema is None:
            raise StorageFailure(f"schema version {version} of {namespace} is missing")
        return schema

    async def load_state(
        self,
        fetch: Callable[[str, Sequence[Any]], Awaitable[Iterable[Row]]],
        head_sql: str,
        placeholder: str,
        loaded_requests: int,
    ) -> StoredState:
        """The state at open, read with `fetch(sql, params)` (in one snapshot; `placeholder`
        is the driver's parameter marker); the backend's `head_sql` reads (revision,
        compact_revision). The newest `loaded_requests` request ids come along, so a retry
        of a recent write is answered without a read."""
        self.load(await fetch(SCHEMA_ROWS_SQL, ()))
        kv_rows = await fetch(KV_ROWS_SQL, ())
        namespace_rows = await fetch(NAMESPACE_ROWS_SQL, ())
        running = await fetch(RUNNING_RELEASES_SQL, ())
        head = next(iter(await fetch(head_sql, ())))
        recent = list(
            await fetch(
                "SELECT request_id, revision FROM revisions WHERE request_id IS NOT NULL"
                f" ORDER BY revision DESC LIMIT {placeholder}",
                (loaded_requests,),
            )
        )
        return self.stored_state(
            kv_rows,
            namespace_rows,
            (int(head[0]), int(head[1])),
            recent,
            loaded_requests,
            running,
        )

    def stored_state(
        self,
        kv_rows: Iterable[Row],
        namespace_rows: Iterable[Row],
        head: tuple[int, int],
        recent_requests: Sequence[Row],
        loaded_requests: int,
        running_releases: Iterable[Row] = (),
    ) -> StoredState:
        """The state loaded at open, from rows of KV_ROWS_SQL and NAMESPACE_ROWS_SQL (this
        cache loaded from the same snapshot), the (revision, compact_revision) head, the
        newest (request_id, revision) rows, newest first, at most `loaded_requests`, and the
        RUNNING_RELEASES_SQL rows (each sets its namespace's release)."""
        running = {r.namespace: r for r in map(stored_release, running_releases)}
        entries: dict[str, dict[str, Entry]] = {}
        for row in kv_rows:
            entries.setdefault(row[0], {})[row[1]] = entry(row[2], row[3], row[4], row[5])
        namespaces = {
            name: Namespace(
                name,
                create_revision,
                mod_revision,
                self.versions[(name, schema_version)],
                frozen_entries(entries.get(name, {})),
                release=_running_on(running.get(name), create_revision),
            )
            for name, create_revision, mod_revision, schema_version in namespace_rows
        }
        schema_versions: dict[str, int] = {}
        for namespace, version in self.versions:
            schema_versions[namespace] = max(version, schema_versions.get(namespace, 0))
        return StoredState(
            int(head[0]),
            int(head[1]),
            MappingProxyType(namespaces),
            schema_versions,
            request_ids={row[0]: int(row[1]) for row in reversed(recent_requests)},
            request_ids_complete=len(recent_requests) < loaded_requests,
        )


def _running_on(release: Release | None, create_revision: int) -> Release | None:
    """A running release of the namespace as created at `create_revision`; one left running
    on an earlier namespace of the same name never applies to this one."""
    return release if release is not None and release.id > create_revision else None
