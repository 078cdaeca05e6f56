"""The one way keys change: a namespace plus updates becomes a validated ChangeSet.

Pure functions of their arguments (no I/O, no service state): ConfigService's write plans call
write_keys against the StateView they are given (configd.core.plan), and Apply's dry run runs
the very same plan on a view of the current state, so a dry run and a real write cannot
disagree. The parsing helpers turn
request text into Values once, before a write reaches the writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from configd.core import jsontext
from configd.core.errors import InvalidArgument, LimitExceeded
from configd.core.limits import Limits
from configd.core.model import (
    ChangeSet,
    Entry,
    KeyChange,
    Namespace,
    SchemaVersion,
    WriteKind,
    key_bytes,
)
from configd.core.names import check_key
from configd.core.plan import NoChange, Planned
from configd.core.schema import compile_schema


@dataclass(frozen=True, slots=True)
class Value:
    """A JSON value parsed once, before it reaches the writer."""

    text: str
    parsed: object


def parse_value(text: str, limits: Limits, *, field: str) -> Value:
    """A value's JSON text: size-checked, parsed, and kept in canonical form."""
    limits.check_size("max_value_bytes", len(text.encode()), field)
    parsed = jsontext.loads(text, field=field)
    return Value(jsontext.dumps(parsed), parsed)


def parse_document(document_json: str, limits: Limits) -> dict[str, Value]:
    """A whole document's JSON text: an object whose properties are the keys, each value
    checked and canonical as parse_value makes it."""
    limits.check_size("max_document_bytes", len(document_json.encode()), "document_json")
    document = jsontext.loads(document_json, field="document_json")
    if not isinstance(document, dict):
        raise InvalidArgument(
            "document_json must be a JSON object whose properties are the keys, "
            f"not a JSON {type(document).__name__}",
            field="document_json",
        )
    values: dict[str, Value] = {}
    for key, parsed in document.items():
        check_key(key, limits, of="document_json")
        text = jsontext.dumps(parsed)
        limits.check_size("max_value_bytes", len(text.encode()), f"the value of {key!r}")
        values[key] = Value(text, parsed)
    return values


def diff(current: Namespace, target: Mapping[str, Value]) -> dict[str, Value | None]:
    """The updates (None deletes) that turn `current`'s document into `target`."""
    updates: dict[str, Value | None] = {
        key: value
        for key, value in target.items()
        if key not in current.entries or current.entries[key].value_json != value.text
    }
    updates.update({key: None for key in current.entries if key not in target})
    return updates


def preview(current: Namespace, updates: Mapping[str, Value | None]) -> tuple[KeyChange, ...]:
    """The diff of a write that would fail validation (entries carry no real revision)."""
    changes = []
    for key in sorted(updates):
        value = updates[key]
        new = Entry(value.text, value.parsed, 0, 0, 0) if value is not None else None
        changes.append(KeyChange(key, current.entries.get(key), new))
    return tuple(changes)


def write_keys(
    namespace: Namespace,
    updates: Mapping[str, Value | None],
    limits: Limits,
    *,
    kind: WriteKind,
    revision: int,
    now: float,
    author: str,
    message: str,
    schema: SchemaVersion | None = None,
) -> Planned:
    """Apply `updates` (None deletes) and, if given, a new `schema`; validate the whole
    result; build the ChangeSet."""
    entries = dict(namespace.entries)
    changes: list[KeyChange] = []
    size = namespace.size
    for key in sorted(updates):
        value = updates[key]
        old = entries.get(key)
        if old is not None:
            size -= key_bytes(key, old)
        if value is None:
            if old is None:
                continue
            del entries[key]
            changes.append(KeyChange(key, old, None))
            continue
        new = Entry(
            value.text,
            value.parsed,
            old.create_revision if old else revision,
            revision,
            old.version + 1 if old else 1,
        )
        entries[key] = new
        size += key_bytes(key, new)
        changes.append(KeyChange(key, old, new))
    if not changes and schema is None:
        raise NoChange
    if len(entries) > limits.max_keys_per_namespace:
        raise LimitExceeded(
            f"namespace {namespace.name!r} would have {len(entries)} keys, over the limit "
            f"of {limits.max_keys_per_namespace} (max_keys_per_namespace)",
            limit="max_keys_per_namespace",
            value=limits.max_keys_per_namespace,
        )
    updated = Namespace(
        namespace.name,
        namespace.create_revision,
        revision,
        schema or namespace.schema,
        MappingProxyType(entries),  # `entries` is this write's own copy
        size,
    )
    limits.check_size("max_document_bytes", size, f"the document of namespace {namespace.name!r}")
    compile_schema(updated.schema.schema_json).validate(
        updated.document_view(),
        what=f"the resulting document of namespace {namespace.name!r}",
        # Under a new schema every value must be checked again.
        changed=None if schema is not None else (change.key for change in changes),
    )
    change_set = ChangeSet(
        revision,
        namespace.name,
        kind,
        tuple(changes),
        author,
        message,
        now,
        updated.schema,
        namespace.create_revision,
    )
    return Planned(change_set, updated)
