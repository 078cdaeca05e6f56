"""The PostgreSQL backend on a real cluster: durability checks, migrations, the counter row,
the doorbell across instances, compaction, request ids, a lost connection."""

from __future__ import annotations

from configd.core.model import ChangeSet, Entry, KeyChange, SchemaVersion, WriteKind
from configd.storage.postgresql.store import PostgreSQLOptions, PostgreSQLStorage

SCHEMA = SchemaVersion(1, '{"type":"object"}', 1)
FAST = PostgreSQLOptions(poll_interval=0.2, connect_timeout=5)


def create(revision: int, name: str = "ns") -> ChangeSet:
    return ChangeSet(
        revision, name, WriteKind.CREATE_NAMESPACE, (), "me", "", 0.0, SCHEMA, revision
    )


def put(
    revision: int, key: str, value: str, old: Entry | None = None, ns: str = "ns", rid: str = ""
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
        ns,
        WriteKind.PUT,
        (KeyChange(key, old, new),),
        "me",
        "",
        float(revision),
        SCHEMA,
        1,
        request_id=rid,
    )


async def test_a_batch_is_stored_whole_and_reloaded(pg_dsn: str) -> None:
    storage = PostgreSQLStorage(pg_dsn, FAST)
    state = await storage.open()
    assert state.revision == 0
    assert not state.namespaces
    first = put(2, "a", "1", rid="req-2")
    assert first.changes[0].new is not None
    await storage.commit(
        [create(1), first, put(3, "a", "2", first.changes[0].new), put(4, "b", "3")]
    )
    await storage.close()
    reopened = PostgreSQLStorage(pg_dsn, FAST)
    state = await reopened.open()
    try:
        assert state.revision == 4
        ns = state.namespaces["ns"]
        assert {k: e.value_json for k, e in ns.entries.items()} == {"a": "2", "b": "3"}
        assert ns.entries["a"].version == 2
        assert ns.entries["a"].create_revision == 2
        assert dict(state.request_ids) == {"req-2": 2}
        assert state.request_ids_complete
        assert await reopened.revision_of_request("req-2") == 2
        assert await reopened.revision_of_request("nope") is None
        history = await reopened.history("ns", "a", 0, 10)
        assert [cs.revision for cs in history] == [3, 2]
        assert history[1].request_id == "req-2"
        assert [cs.revision for cs in await reopened.history("ns", None, 4, 2)] == [3, 2]
        assert [cs.revision for cs in await reopened.changes_since(2, 10)] == [2, 3, 4]
        change = await reopened.change_set(3)
        assert change is not None
        assert change.changes[0].old is not None
        assert await reopened.change_set(9) is None
        assert await reopened.revision_at(2.5) == 2
        at2 = await reopened.namespace_at("ns", 2)
        assert at2 is not None
        assert set(at2.entries) == {"a"}
    finally:
        await reopened.close()
