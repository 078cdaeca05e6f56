"""The config store's rules, run in-process on a real SQLite file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from configd.core.errors import (
    AlreadyExists,
    FutureRevision,
    InvalidArgument,
    KeyNotFound,
    LimitExceeded,
    NamespaceNotEmpty,
    NamespaceNotFound,
    PreconditionFailed,
    RevisionCompacted,
    SchemaViolation,
)
from configd.core.limits import Limits
from configd.core.model import (
    KeyAbsent,
    KeyModRevision,
    NamespaceRevision,
    TxnDelete,
    TxnPut,
    WriteKind,
)
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.service import ConfigService

FLAGS_SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "integer"},
            "enabled": {"type": "boolean"},
            "limit": {"type": "integer", "maximum": 100},
        },
        "additionalProperties": False,
    }
)
ME = {"author": "tester", "message": ""}


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[ConfigService]:
    async with ConfigService(SQLiteStorage(tmp_path)) as svc:
        yield svc


async def test_create_namespace_gives_revision_and_default_schema(service: ConfigService) -> None:
    result = await service.create_namespace("app/prod", "", **ME)
    assert result.revision == 1
    assert result.namespace is not None
    assert result.namespace.schema.schema_json == '{"type":"object"}'
    assert result.change_set.kind is WriteKind.CREATE_NAMESPACE
    with pytest.raises(AlreadyExists):
        await service.create_namespace("app/prod", "", **ME)
    assert service.revision == 1


async def test_each_write_gets_exactly_one_new_revision(service: ConfigService) -> None:
    await service.create_namespace("ns", FLAGS_SCHEMA, **ME)
    put = await service.put("ns", "a", "1", **ME)
    txn = await service.txn("ns", [TxnPut("a", "2"), TxnPut("b", "3")], **ME)
    delete = await service.delete("ns", "b", **ME)
    assert [put.revision, txn.revision, delete.revision] == [2, 3, 4]
    entry, _ = await service.get("ns", "a")
    assert (entry.create_revision, entry.mod_revision, entry.version) == (2, 3, 2)


async def test_rejected_write_leaves_revision_and_document_unchanged(
    service: ConfigService,
) -> None:
    await service.create_namespace("ns", FLAGS_SCHEMA, **ME)
    await service.put("ns", "limit", "10", **ME)
    before = (service.revision, service.namespaces["ns"])
    for attempt in (
        service.put("ns", "limit", "1000", **ME),
        service.put("ns", "typo", "1", **ME),
        service.txn("ns", [TxnPut("a", "1"), TxnPut("limit", '"x"')], **ME),
        service.put("ns", "a", "{bad", **ME),
        service.apply("ns", '{"limit": 500}', **ME),
    ):
        with pytest.raises(InvalidArgument):
            await attempt
    assert (service.revision, service.namespaces["ns"]) == before


async def test_schema_violation_lists_every_violation(service: ConfigService) -> None:
    await service.create_namespace("ns", FLAGS_SCHEMA, **ME)
    with pytest.raises(SchemaViolation) as caught:
        await service.apply("ns", '{"limit": 101, "enabled": "yes", "x": 1}', **ME)
    assert [(v.path, v.keyword) for v in caught.value.violations] == [
        ("/enabled", "type"),
        ("/limit", "maximum"),
        ("/x", "additionalProperties"),
    ]


async def test_preconditions_compare_and_set(service: ConfigService) -> None:
    await service.create_namespace("ns", "", **ME)
    first = await service.put("ns", "k", "1", preconditions=[KeyAbsent("k")], **ME)
    with pytest.raises(PreconditionFailed) as caught:
        await service.put("ns", "k", "2", preconditions=[KeyAbsent("k")], **ME)
    assert caught.value.failures[0].current_revision == first.revision
    await service.put("ns", "k", "2", preconditions=[KeyModRevision("k", first.revision)], **ME)
    with pytest.raises(PreconditionFailed) as caught:
        await service.put("ns", "k", "3", preconditions=[KeyModRevision("k", first.revision)], **ME)
    assert str(caught.value) == (
        "configd: precondition failed: key 'k' has mod_revision 3, expected 2; nothing was "
        "written: re-read and retry"
    )
    with pytest.raises(PreconditionFailed):
        await service.put("ns", "k", "3", preconditions=[NamespaceRevision(2)], **ME)
    assert service.revision == 3


async def test_txn_is_all_or_nothing(service: ConfigService) -> None:
    await service.create_namespace("ns", "", **ME)
    await service.put("ns", "a", "1", **ME)
    with pytest.raises(KeyNotFound):
        await service.txn("ns", [TxnPut("b", "1"), TxnDelete("missing")], **ME)
    assert set(service.namespaces["ns"].entries) == {"a"}
    with pytest.raises(InvalidArgument, match="appears twice"):
        await service.txn("ns", [TxnPut("a", "1"), TxnDelete("a")], **ME)
    with pytest.raises(InvalidArgument, match="at least one"):
        await service.txn("ns", [], **ME)


async def test_thousand_concurrent_puts_get_consecutive_revisions_in_few_commits(
    service: ConfigService,
) -> None:
    await service.create_namespace("ns", "", **ME)
    results = await asyncio.gather(
        *(service.put("ns", f"k{i % 50}", str(i), **ME) for i in range(1000))
    )
    assert sorted(r.revision for r in results) == list(range(2, 1002))
    # Group commit: the queued writes were stored in far fewer transactions than writes.
    assert len(service.writer.batch_sizes) < 200
    assert max(service.writer.batch_sizes) > 1


async def test_apply_diffs_dry_runs_and_skips_unchanged(service: ConfigService) -> None:
    await service.create_namespace("ns", FLAGS_SCHEMA, **ME)
    await service.apply("ns", '{"a": 1, "b": 2}', **ME)
    dry = await service.apply("ns", '{"a": 1, "limit": 500}', dry_run=True, **ME)
    assert dry.revision == 0
    assert not dry.valid
    assert [(c.key, c.old is not None, c.new is not None) for c in dry.changes] == [
        ("b", True, False),
        ("limit", False, True),
    ]
    assert [v.path for v in dry.violations] == ["/limit"]
    assert service.revision == 2
    unchanged = await service.apply("ns", '{"b": 2, "a": 1}', **ME)
    assert unchanged.revision == 0
    assert service.revision == 2
    with pytest.raises(InvalidArgument, match="must be a JSON object"):
        await service.apply("ns", "[1, 2]", **ME)


async def test_set_schema_refused_when_document_does_not_satisfy_it(
    service: ConfigService,
) -> None:
    await service.create_namespace("ns", "", **ME)
    await service.put("ns", "limit", "500", **ME)
    with pytest.raises(SchemaViolation) as caught:
        await service.set_schema("ns", FLAGS_SCHEMA, **ME)
    assert caught.value.violations[0].path == "/limit"
    assert service.namespaces["ns"].schema.version == 1
    await service.put("ns", "limit", "50", **ME)
    result = await service.set_schema("ns", FLAGS_SCHEMA, **ME)
    assert result.change_set.schema.version == 2
    old = await service.get_schema("ns", 1)
    assert old.schema_json == '{"type":"object"}'


async def test_rollback_restores_and_refuses_what_the_current_schema_forbids(
    service: ConfigService,
) -> None:
    await service.create_namespace("ns", "", **ME)
    v1 = await service.put("ns", "limit", "500", **ME)
    await service.put("ns", "limit", "50", **ME)
    await service.put("ns", "a", "1", **ME)
    await service.set_schema("ns", FLAGS_SCHEMA, **ME)
    with pytest.raises(SchemaViolation):
        await service.rollback("ns", v1.revision, **ME)
    restored = await service.rollback("ns", 3, **ME)
    assert restored is not None
    assert restored.change_set.kind is WriteKind.ROLLBACK
    assert service.namespaces["ns"].document() == {"limit": 50}
    with pytest.raises(FutureRevision):
        await service.rollback("ns", 999, **ME)


async def test_delete_namespace_needs_force_while_keys_remain(service: ConfigService) -> None:
    await service.create_namespace("ns", "", **ME)
    await service.put("ns", "a", "1", **ME)
    with pytest.raises(NamespaceNotEmpty):
        await service.delete_namespace("ns", force=False, **ME)
    result = await service.delete_namespace("ns", force=True, **ME)
    assert [c.key for c in result.change_set.changes] == ["a"]
    assert "ns" not in service.namespaces
    with pytest.raises(NamespaceNotFound):
        await service.put("ns", "a", "1", **ME)
    # Re-creating continues the schema numbering, so old history stays unambiguous.
    again = await service.create_namespace("ns", "", **ME)
    assert again.change_set.schema.version == 2


async def test_reads_at_older_revisions_and_history(service: ConfigService) -> None:
    await service.create_namespace("ns", "", **ME)
    await service.put("ns", "a", "1", **ME)
    await service.put("ns", "b", "2", **ME)
    await service.delete("ns", "a", **ME)
    old = await service.get_namespace("ns", 3)
    assert old.namespace.document() == {"a": 1, "b": 2}
    assert old.namespace.mod_revision == 3
    assert (await service.get_namespace("ns", 1)).namespace.document() == {}
    page = await service.history("ns", page_size=2)
    assert [cs.revision for cs in page.entries] == [4, 3]
    rest = await service.history("ns", page_size=2, before=page.next_before)
    assert [cs.revision for cs in rest.entries] == [2, 1]
    assert rest.next_before == 0
    only_a = await service.history("ns", "a")
    assert [cs.revision for cs in only_a.entries] == [4, 2]


async def test_compaction_keeps_latest_state_readable(service: ConfigService) -> None:
    await service.create_namespace("ns", "", **ME)
    for i in range(10):
        await service.put("ns", "k", str(i), **ME)
    await service.put("ns", "other", "1", **ME)
    assert await service.compact(8, step=3) == 8
    with pytest.raises(RevisionCompacted) as caught:
        await service.get_namespace("ns", 7)
    assert caught.value.compact_revision == 8
    assert (await service.get_namespace("ns", 8)).namespace.document() == {"k": 6}
    assert [cs.revision for cs in (await service.history("ns")).entries] == [12, 11, 10, 9, 8]


async def test_state_survives_reopen(tmp_path: Path) -> None:
    async with ConfigService(SQLiteStorage(tmp_path)) as first:
        await first.create_namespace("ns", FLAGS_SCHEMA, **ME)
        await first.put("ns", "a", "123456789012345678901234567890", **ME)
        await first.compact(1)
    async with ConfigService(SQLiteStorage(tmp_path)) as second:
        assert second.revision == 2
        assert second.compact_revision == 1
        entry, _ = await second.get("ns", "a")
        assert entry.value_json == "123456789012345678901234567890"
        assert second.namespaces["ns"].schema.version == 1


async def test_limits_answer_with_the_limit_name(tmp_path: Path) -> None:
    limits = Limits(max_value_bytes=10, max_keys_per_namespace=2, max_document_bytes=40)
    async with ConfigService(SQLiteStorage(tmp_path), limits) as svc:
        await svc.create_namespace("ns", "", **ME)
        with pytest.raises(LimitExceeded) as caught:
            await svc.put("ns", "a", '"' + "x" * 20 + '"', **ME)
        assert caught.value.limit == "max_value_bytes"
        assert str(caught.value) == (
            "configd: value_json is 22 bytes, over the limit of 10 bytes (max_value_bytes); "
            "store less or raise the limit"
        )
        await svc.txn("ns", [TxnPut("a", "1"), TxnPut("b", "2")], **ME)
        with pytest.raises(LimitExceeded) as caught:
            await svc.put("ns", "c", "3", **ME)
        assert caught.value.limit == "max_keys_per_namespace"


async def test_create_with_a_first_document_is_one_validated_revision(
    service: ConfigService,
) -> None:
    required = json.dumps({"type": "object", "required": ["a"], "properties": {"a": {}}})
    with pytest.raises(SchemaViolation):
        await service.create_namespace("ns", required, document_json='{"b": 1}', **ME)
    assert "ns" not in service.namespaces
    assert service.revision == 0
    result = await service.create_namespace("ns", required, document_json='{"a": 1}', **ME)
    assert result.revision == 1
    assert result.change_set.kind is WriteKind.CREATE_NAMESPACE
    assert [c.key for c in result.change_set.changes] == ["a"]
    entry, _ = await service.get("ns", "a")
    assert (entry.create_revision, entry.mod_revision, entry.version) == (1, 1, 1)
    # Without a document a namespace starts empty, whatever the schema requires.
    await service.create_namespace("empty", required, **ME)


async def test_apply_can_replace_schema_and_document_in_one_revision(
    service: ConfigService,
) -> None:
    await service.create_namespace("ns", "", **ME)
    await service.apply("ns", '{"limit": 500}', **ME)
    # The new schema forbids 500: replacing both at once is the only single-step way.
    with pytest.raises(SchemaViolation):
        await service.apply("ns", '{"limit": 500}', schema_json=FLAGS_SCHEMA, **ME)
    dry = await service.apply("ns", '{"limit": 50}', schema_json=FLAGS_SCHEMA, dry_run=True, **ME)
    assert dry.valid
    assert dry.schema_changed
    result = await service.apply("ns", '{"limit": 50}', schema_json=FLAGS_SCHEMA, **ME)
    assert result.revision == 3
    assert result.schema_changed
    namespace = service.namespaces["ns"]
    assert namespace.schema.version == 2
    assert namespace.schema.revision == 3
    history = await service.history("ns", page_size=1)
    assert history.entries[0].sets_schema
    # The same schema again changes nothing.
    unchanged = await service.apply("ns", '{"limit": 50}', schema_json=FLAGS_SCHEMA, **ME)
    assert unchanged.revision == 0
    assert not unchanged.schema_changed


async def test_a_dry_run_previews_exactly_what_the_write_commits(service: ConfigService) -> None:
    # Deleted and re-created: schema numbering continues (the next schema is version 3).
    await service.create_namespace("ns", "", **ME)
    await service.delete_namespace("ns", force=True, **ME)
    await service.create_namespace("ns", "", **ME)
    await service.apply("ns", '{"a": 1, "b": 2}', **ME)
    before = service.revision

    invalid = await service.apply(
        "ns", '{"a": 1, "limit": 500}', schema_json=FLAGS_SCHEMA, dry_run=True, **ME
    )
    assert [v.path for v in invalid.violations] == ["/limit"]
    assert invalid.schema_changed
    assert [(c.key, c.new is not None) for c in invalid.changes] == [("b", False), ("limit", True)]

    dry = await service.apply(
        "ns", '{"a": 1, "limit": 50}', schema_json=FLAGS_SCHEMA, dry_run=True, **ME
    )
    assert service.revision == before  # nothing stored, nothing claimed
    real = await service.apply("ns", '{"a": 1, "limit": 50}', schema_json=FLAGS_SCHEMA, **ME)
    assert real.revision == before + 1
    assert (dry.revision, dry.namespace_revision) == (0, before)
    assert dry.changes == real.changes  # the same entries, at the revision the write got
    assert dry.schema_changed == real.schema_changed is True
    assert dry.violations == real.violations == ()
    assert service.namespaces["ns"].schema.version == 3
