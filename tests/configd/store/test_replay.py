"""configd.core.replay against what the writer produces: for every WriteKind, replaying the
ChangeSet (as committed, and as read back from the revision log) on the state before the write
gives the namespace and schema-version counter the writer made live."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from configd.core.model import Namespace, ReleaseState, TxnDelete, TxnPut, WriteKind
from configd.core.plan import StateView
from configd.core.replay import ReplayMismatch, replay
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.service import ConfigService

ME = {"author": "tester", "message": "m"}
SCHEMA = json.dumps({"type": "object", "properties": {"a": {"type": "integer"}}})
RELEASE: dict[str, Any] = {
    "selectors": [("zone", "eu")],
    "percent": 0,
    "max_failures": None,
    "bake_seconds": 0.0,
}
STRICT = json.dumps({"type": "object", "additionalProperties": {"type": "integer"}})


async def test_replay_rebuilds_every_kind_of_write(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    async with ConfigService(storage) as service:
        writes: list[Callable[[], Awaitable[object]]] = [
            lambda: service.create_namespace("app", SCHEMA, **ME),
            lambda: service.create_namespace("seeded", "", document_json='{"x":1,"y":[2]}', **ME),
            lambda: service.put("app", "a", "1", **ME),
            lambda: service.put("app", "a", "2", **ME),
            lambda: service.put("app", "b", '{"deep":[1,2.50,"x"]}', **ME),
            lambda: service.delete("app", "b", **ME),
            lambda: service.txn("app", [TxnPut("c", "3"), TxnDelete("a")], **ME),
            lambda: service.apply("app", '{"c":4,"d":5}', **ME),
            lambda: service.apply("app", '{"c":6}', schema_json=STRICT, **ME),
            lambda: service.rollback("app", 4, **ME),
            lambda: service.set_schema("app", SCHEMA, **ME),
            lambda: service.delete_namespace("seeded", force=True, **ME),
            lambda: service.create_namespace("seeded", STRICT, **ME),  # schema numbering goes on
            lambda: service.delete_namespace("seeded", force=False, **ME),
            lambda: service.start_release("app", '{"c":7}', **RELEASE, **ME),
            lambda: service.end_release("app", ReleaseState.ABORTED, **ME),
            lambda: service.start_release("app", '{"c":8}', **RELEASE, **ME),
            lambda: service.end_release("app", ReleaseState.PROMOTED, **ME),
        ]
        seen: set[WriteKind] = set()
        for write in writes:
            before = dict(service.namespaces)
            versions = dict(service._state.schema_versions)
            await write()
            revision = service.revision
            (stored,) = await storage.log_since(revision - 1, 10)
            for change_set in (await storage.change_set(revision), stored):
                assert change_set is not None
                view = StateView(before, versions)
                planned = replay(view, change_set)
                view.stage(planned)
                name = change_set.namespace
                after: Namespace | None = service.namespaces.get(name)
                assert planned.namespace == after
                if after is not None and planned.namespace is not None:
                    assert planned.namespace.size == after.size
                assert {**versions, **view.staged_schema_versions} == service._state.schema_versions
            seen.add(stored.kind)
        assert seen == set(WriteKind)
        assert service._state.schema_versions["seeded"] == 2


async def test_replay_refuses_a_change_set_that_does_not_follow(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    async with ConfigService(storage) as service:
        await service.create_namespace("app", "", **ME)
        await service.put("app", "a", "1", **ME)
        create, put = await storage.log_since(0, 10)
        with pytest.raises(ReplayMismatch, match="namespace 'app' is absent"):
            replay(StateView({}, {}), put)  # a skipped revision
        with pytest.raises(ReplayMismatch, match="is present"):
            replay(StateView(dict(service.namespaces), {}), create)  # a repeated one
        with pytest.raises(ReplayMismatch, match="key 'a'"):
            replay(StateView(dict(service.namespaces), {}), put)  # applied twice
