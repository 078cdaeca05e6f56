"""Group commit: queued writes share one transaction but keep their own revision and outcome."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from configd.core.errors import PreconditionFailed, SchemaViolation
from configd.core.model import KeyModRevision
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.service import ConfigService

ME = {"author": "tester", "message": ""}


async def test_each_write_in_a_batch_keeps_its_own_outcome(tmp_path: Path) -> None:
    async with ConfigService(SQLiteStorage(tmp_path)) as service:
        await service.create_namespace(
            "ns", '{"properties": {"n": {"type": "integer", "maximum": 10}}}', **ME
        )
        first = await service.put("ns", "n", "1", **ME)
        batches_before = len(service.writer.batch_sizes)
        outcomes = await asyncio.gather(
            service.put("ns", "n", "2", **ME),
            service.put("ns", "n", "99", **ME),  # fails validation
            service.put(
                "ns", "n", "3", preconditions=[KeyModRevision("n", first.revision)], **ME
            ),  # the put of "2" came first in the batch: stale
            service.put("ns", "m", "4", **ME),
            return_exceptions=True,
        )
        assert len(service.writer.batch_sizes) == batches_before + 1  # one transaction
        assert [type(o).__name__ for o in outcomes] == [
            "WriteResult",
            "SchemaViolation",
            "PreconditionFailed",
            "WriteResult",
        ]
        assert isinstance(outcomes[1], SchemaViolation)
        assert isinstance(outcomes[2], PreconditionFailed)
        revisions = [o.revision for o in outcomes if not isinstance(o, Exception)]
        assert revisions == [first.revision + 1, first.revision + 2]
        assert service.namespaces["ns"].document() == {"n": 2, "m": 4}


async def test_stop_commits_what_is_queued_then_refuses(tmp_path: Path) -> None:
    service = ConfigService(SQLiteStorage(tmp_path))
    await service.open()
    await service.create_namespace("ns", "", **ME)
    pending = [asyncio.ensure_future(service.put("ns", f"k{i}", "1", **ME)) for i in range(20)]
    await asyncio.sleep(0)
    await service.close()
    assert all(p.done() and p.exception() is None for p in pending)
    with pytest.raises(Exception, match="shutting down"):
        await service.put("ns", "late", "1", **ME)
    await service.close()
