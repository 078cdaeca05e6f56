"""Request ids in the service and writer (real SQLite files): a retry in the same batch as its
first attempt, ids older than the ones held in memory (asked of the storage), and a retry of a
write whose history was compacted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from configd.core.errors import PreconditionFailed
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.service import ConfigService

ME = {"author": "tester", "message": ""}


async def test_a_retry_in_the_same_batch_gets_the_first_attempts_answer(tmp_path: Path) -> None:
    async with ConfigService(SQLiteStorage(tmp_path)) as service:
        await service.create_namespace("ns", "", **ME)
        before = service.revision
        first, second, other = await asyncio.gather(
            service.put("ns", "k", "1", request_id="same", **ME),
            service.put("ns", "k", "1", request_id="same", **ME),
            service.put("ns", "j", "2", request_id="other", **ME),
        )
        assert first.revision == second.revision == before + 1
        assert other.revision == before + 2
        assert service.revision == before + 2
        history = await service.history("ns")
        assert [cs.revision for cs in history.entries] == [before + 2, before + 1, before]
        assert history.entries[1].request_id == "same"


async def test_ids_older_than_memory_are_found_in_storage(tmp_path: Path) -> None:
    async with ConfigService(SQLiteStorage(tmp_path), max_recent_requests=1) as service:
        await service.create_namespace("ns", "", request_id="create", **ME)
        first = await service.put("ns", "k", "1", request_id="a", **ME)
        await service.put("ns", "k", "2", request_id="b", **ME)  # "a" leaves memory
        at = service.revision
        again = await service.put("ns", "k", "1", request_id="a", **ME)
        assert again.revision == first.revision
        assert again.change_set == first.change_set
        assert service.revision == at
        with pytest.raises(PreconditionFailed, match="'a' was used for a different write"):
            await service.put("ns", "k", "3", request_id="a", **ME)
        assert service.revision == at
    # Loaded at start (here only the newest fits in memory): the same answers.
    async with ConfigService(SQLiteStorage(tmp_path), max_recent_requests=1) as service:
        assert (await service.put("ns", "k", "1", request_id="a", **ME)).revision == first.revision
        assert (await service.create_namespace("ns", "", request_id="create", **ME)).revision == 1


async def test_a_retry_of_a_compacted_write_still_gets_its_revision(tmp_path: Path) -> None:
    async with ConfigService(SQLiteStorage(tmp_path)) as service:
        await service.create_namespace("ns", "", **ME)
        first = await service.put("ns", "k", "1", request_id="a", **ME)
        await service.put("ns", "k", "2", **ME)
        await service.compact(service.revision)
        assert await service.storage.change_set(first.revision) is None
        again = await service.put("ns", "k", "1", request_id="a", **ME)
        assert again.revision == first.revision
        assert again.change_set.changes == ()  # compacted: only the revision is known
        assert service.namespaces["ns"].document() == {"k": 2}
