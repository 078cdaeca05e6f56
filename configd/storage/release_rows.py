"""Release rows as every SQL backend stores them (table `releases`).

A release's row is inserted by its start and updated once, by its promotion or abort. Its
`changes` are kept whole (old and new entries with their metadata) as JSON text, because a
start writes no `changes` rows: the namespace's document does not change, only the slice's
view of it (configd.core.releases).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from configd.core.model import Entry, KeyChange, Release, ReleaseState

RELEASE_COLUMNS = (
    "id, namespace, state, selectors, percent, max_failures, bake_seconds, base_revision,"
    " changes, started_by, message, started_at, end_revision, ended_by, end_message,"
    " ended_at, outcome_json"
)
"""The columns of `releases`, in table order."""

_END_COLUMNS = ("state", "end_revision", "ended_by", "end_message", "ended_at", "outcome_json")


def insert_release_sql(placeholder: str) -> str:
    """Insert a row of release_row() (`placeholder` is the driver's parameter marker)."""
    marks = ", ".join([placeholder] * len(RELEASE_COLUMNS.split(",")))
    return f"INSERT INTO releases ({RELEASE_COLUMNS}) VALUES ({marks})"


def end_release_sql(placeholder: str) -> str:
    """Update a release's ending fields from a row of release_end_row()."""
    sets = ", ".join(f"{column} = {placeholder}" for column in _END_COLUMNS)
    return f"UPDATE releases SET {sets} WHERE id = {placeholder}"


def release_row(release: Release) -> tuple[Any, ...]:
    """The values of RELEASE_COLUMNS for `release`."""
    return (
        release.id,
        release.namespace,
        release.state.value,
        json.dumps([list(s) for s in release.selectors], ensure_ascii=False),
        release.percent,
        release.max_failures,
        release.bake_seconds,
        release.base_revision,
        changes_json(release.changes),
        release.started_by,
        release.message,
        release.started_at,
        *release_end_row(release)[1:-1],  # its ending fields after state
    )


def release_end_row(release: Release) -> tuple[Any, ...]:
    """The ending fields of `release`, then its id (end_release_sql's parameters)."""
    return (
        release.state.value,
        release.end_revision,
        release.ended_by,
        release.end_message,
        release.ended_at,
        release.outcome_json,
        release.id,
    )


def stored_release(row: Sequence[Any]) -> Release:
    """A release from a row of RELEASE_COLUMNS."""
    (
        rid,
        namespace,
        state,
        selectors,
        percent,
        max_failures,
        bake_seconds,
        base_revision,
        changes,
        started_by,
        message,
        started_at,
        end_revision,
        ended_by,
        end_message,
        ended_at,
        outcome_json,
    ) = row
    return Release(
        id=int(rid),
        namespace=str(namespace),
        selectors=tuple((str(k), str(v)) for k, v in json.loads(selectors)),
        percent=int(percent),
        max_failures=None if max_failures is None else int(max_failures),
        bake_seconds=float(bake_seconds),
        changes=key_changes(str(changes)),
        started_by=str(started_by),
        message=str(message),
        started_at=float(started_at),
        base_revision=int(base_revision),
        state=ReleaseState(int(state)),
        end_revision=int(end_revision),
        ended_by=str(ended_by),
        end_message=str(end_message),
        ended_at=float(ended_at),
        outcome_json=str(outcome_json),
    )


# Objects with a "key" member, so a history read by key can select a release's changes
# with the database's JSON functions without matching a value that happens to equal it.
def changes_json(changes: Sequence[KeyChange]) -> str:
    """KeyChanges as JSON text: [{"key", "old", "new"}], each entry [value JSON text,
    create_revision, mod_revision, version] or null."""
    return json.dumps(
        [{"key": c.key, "old": _entry_list(c.old), "new": _entry_list(c.new)} for c in changes],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def key_changes(text: str) -> tuple[KeyChange, ...]:
    """The KeyChanges of changes_json() text."""
    return tuple(
        KeyChange(str(c["key"]), _entry(c["old"]), _entry(c["new"])) for c in json.loads(text)
    )


def _entry_list(entry: Entry | None) -> list[Any] | None:
    if entry is None:
        return None
    return [entry.value_json, entry.create_revision, entry.mod_revision, entry.version]


def _entry(item: list[Any] | None) -> Entry | None:
    if item is None:
        return None
    value, create_revision, mod_revision, version = item
    return Entry(value, json.loads(value), int(create_revision), int(mod_revision), int(version))
