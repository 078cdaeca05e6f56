"""configd.core.changes: how a namespace and its updates become one validated ChangeSet."""

from __future__ import annotations

import json

import pytest

from configd.core.changes import Value, diff, parse_document, parse_value, preview, write_keys
from configd.core.errors import InvalidArgument, LimitExceeded, SchemaViolation
from configd.core.limits import Limits
from configd.core.model import Entry, Namespace, SchemaVersion, WriteKind
from configd.core.plan import NoChange, Planned

SCHEMA = SchemaVersion(
    1,
    json.dumps({"type": "object", "properties": {"port": {"type": "integer", "maximum": 65535}}}),
    1,
)
LIMITS = Limits()


def namespace(**values: object) -> Namespace:
    entries = {
        key: Entry(json.dumps(value), value, 2, 2 + i, 1)
        for i, (key, value) in enumerate(values.items())
    }
    return Namespace("svc", 1, 2 + len(values), SCHEMA, entries)


def write(current: Namespace, updates: dict[str, Value | None], limits: Limits = LIMITS) -> Planned:
    """Revision 10, by alice, "why", at time 123."""
    return write_keys(
        current,
        updates,
        limits,
        kind=WriteKind.TXN,
        revision=10,
        now=123.0,
        author="alice",
        message="why",
    )


def test_a_write_gives_every_changed_key_the_new_revision_and_a_version() -> None:
    current = namespace(port=80, host="a")
    planned = write(
        current,
        {"port": parse_value("8080", LIMITS, field="value_json"), "debug": Value("true", True)},
    )

    change_set, updated = planned.change_set, planned.namespace
    assert updated is not None
    assert [c.key for c in change_set.changes] == ["debug", "port"]  # sorted
    assert (change_set.revision, change_set.author, change_set.message) == (10, "alice", "why")
    port = updated.entries["port"]
    assert (port.value, port.create_revision, port.mod_revision, port.version) == (8080, 2, 10, 2)
    debug = updated.entries["debug"]
    assert (debug.create_revision, debug.mod_revision, debug.version) == (10, 10, 1)
    assert updated.entries["host"] == current.entries["host"]
    assert updated.mod_revision == 10
    # The size is kept up to date key by key; it equals a count from scratch.
    assert updated.size == Namespace("svc", 1, 10, SCHEMA, updated.entries).size


def test_writing_what_is_already_there_is_no_change() -> None:
    current = namespace(port=80)
    with pytest.raises(NoChange):
        write(current, {"missing": None})


def test_a_value_the_schema_refuses_names_its_path_and_keyword() -> None:
    with pytest.raises(SchemaViolation) as refused:
        write(namespace(port=80), {"port": Value("70000", 70000)})
    (violation,) = refused.value.violations
    assert (violation.path, violation.keyword) == ("/port", "maximum")


def test_too_many_keys_is_a_limit_not_a_partial_write() -> None:
    with pytest.raises(LimitExceeded, match="max_keys_per_namespace"):
        write(namespace(port=80), {"host": Value('"a"', "a")}, Limits(max_keys_per_namespace=1))


def test_values_are_kept_as_canonical_json_text() -> None:
    assert parse_value('{ "a" : [1, 2] ,"b":"é"}', LIMITS, field="value_json").text == (
        '{"a":[1,2],"b":"é"}'
    )
    with pytest.raises(InvalidArgument, match="value_json is not valid JSON"):
        parse_value("{", LIMITS, field="value_json")


def test_a_document_must_be_an_object_of_keys() -> None:
    assert set(parse_document('{"port": 1, "host": "a"}', LIMITS)) == {"port", "host"}
    with pytest.raises(InvalidArgument, match="not a JSON list"):
        parse_document("[1]", LIMITS)


def test_diff_and_preview_of_a_whole_document() -> None:
    current = namespace(port=80, host="a")
    updates = diff(current, parse_document('{"port": 80, "debug": true}', LIMITS))

    assert set(updates) == {"debug", "host"}
    assert updates["host"] is None
    changes = preview(current, updates)
    assert [(c.key, c.old is not None, c.new is not None) for c in changes] == [
        ("debug", False, True),
        ("host", True, False),
    ]
