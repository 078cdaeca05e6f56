"""Writes as the service would plan them, for the storage tests: a namespace's creation and
puts to it."""

from __future__ import annotations

from configd.core.model import ChangeSet, Entry, KeyChange, SchemaVersion, WriteKind

SCHEMA = SchemaVersion(1, '{"type":"object","maxProperties":5}', 1)


def create(revision: int, name: str = "ns") -> ChangeSet:
    schema = SchemaVersion(1, SCHEMA.schema_json, revision)
    return ChangeSet(
        revision, name, WriteKind.CREATE_NAMESPACE, (), "me", "", 0.0, schema, revision
    )


def put(
    revision: int,
    key: str,
    value: str,
    old: Entry | None = None,
    *,
    request_id: str = "",
    created: int = 1,
) -> ChangeSet:
    new = Entry(
        value,
        None,
        old.create_revision if old else revision,
        revision,
        old.version + 1 if old else 1,
    )
    return ChangeSet(
        revision,
        "ns",
        WriteKind.PUT,
        (KeyChange(key, old, new),),
        "me",
        "",
        float(revision),  # "time": revision_at is tested on it
        SchemaVersion(1, SCHEMA.schema_json, created),
        created,
        request_id=request_id,
    )
