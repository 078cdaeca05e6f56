"""Snapshot: a read-only mapping over frozen JSON values."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pytest

from configd_client import Snapshot
from configd_client._snapshot import _Doc, freeze, thaw
from configd_client.wire.jsontext import dumps as dump_json
from configd_client.wire.jsontext import loads as parse_json


def make(values: dict[str, object], revision: int = 7) -> Snapshot:
    doc = _Doc(
        "app/prod",
        {k: freeze(v) for k, v in values.items()},
        {k: dump_json(v) for k, v in values.items()},
        create_revision=1,
        mod_revision=5,
        schema_version=2,
        schema_json="",
    )
    return Snapshot("app/prod", revision, doc)


def test_mapping_interface_and_metadata() -> None:
    snap = make({"a": 1, "b": [1, {"c": 2}]})
    assert isinstance(snap, Mapping)
    assert snap["a"] == 1
    assert snap.get("missing", "d") == "d"
    assert set(snap) == {"a", "b"}
    assert len(snap) == 2
    assert "a" in snap
    assert (snap.namespace, snap.revision, snap.mod_revision, snap.schema_version) == (
        "app/prod",
        7,
        5,
        2,
    )
    assert snap.exists
    assert snap.json("b") == '[1,{"c":2}]'


def test_values_are_frozen_and_to_dict_thaws() -> None:
    snap = make({"b": [1, {"c": [2]}]})
    value = snap["b"]
    assert value == (1, MappingProxyType({"c": (2,)}))
    with pytest.raises(TypeError):
        value[1]["c"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError):
        snap.revision = 9  # type: ignore[misc]
    plain = snap.to_dict()
    assert plain == {"b": [1, {"c": [2]}]}
    plain["b"].append(5)
    assert snap["b"] == (1, MappingProxyType({"c": (2,)}))


def test_missing_namespace_is_an_empty_snapshot() -> None:
    snap = Snapshot("nope", 3, None)
    assert not snap.exists
    assert len(snap) == 0
    assert snap.revision == 3


def test_json_roundtrip_keeps_big_integers_and_refuses_nan() -> None:
    big = 2**63 + 1
    assert parse_json(dump_json({"n": big})) == {"n": big}
    with pytest.raises(ValueError, match="NaN"):
        parse_json("NaN")
    assert thaw(freeze({"x": [1, 2]})) == {"x": [1, 2]}
