"""Group commit: queued writes share one transaction but keep their own revision and outcome."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from configd.core.errors import (
    InternalError,
    PreconditionFailed,
    SchemaViolation,
    StorageFailure,
    Unavailable,
)
from configd.core.model import ChangeSet, KeyModRevision, WriteResult
from configd.core.plan import Planned, StateView
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.service import ConfigService
from tests.configd.store.faults import FaultyStorage

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
    with pytest.raises(Unavailable, match="shutting down"):
        await service.put("ns", "late", "1", **ME)
    await service.close()


# -- faults: the writer cannot die and cannot hang -------------------------------------------

INCIDENT = re.compile(
    r"^configd: internal error \(incident ([0-9a-f]{12})\): the write was not stored; retry, "
    r"and report the incident id if it persists$"
)


def incident_of(error: BaseException) -> str:
    """The incident id of an InternalError, checking its message."""
    assert isinstance(error, InternalError), repr(error)
    match = INCIDENT.match(str(error))
    assert match is not None, str(error)
    assert match.group(1) == error.incident
    return error.incident


async def test_an_unexpected_commit_error_fails_its_batch_with_an_incident(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = FaultyStorage(tmp_path)
    async with ConfigService(storage) as service:
        await service.create_namespace("ns", "", **ME)
        before = service.revision
        storage.fail_next = RuntimeError("bug while building rows")
        outcomes = await asyncio.gather(
            service.put("ns", "a", "1", **ME),
            service.put("ns", "b", "2", **ME),
            return_exceptions=True,
        )
        incidents = {incident_of(o) for o in outcomes}
        assert len(incidents) == 1  # one batch, one incident
        (incident,) = incidents
        logged = [r for r in caplog.records if incident in r.getMessage()]
        assert len(logged) == 1
        assert logged[0].exc_info is not None
        assert isinstance(logged[0].exc_info[1], RuntimeError)
        assert service.revision == before
        assert service.namespaces["ns"].document() == {}

        # The writer is alive and the revisions stay gap-free.
        result = await service.put("ns", "a", "3", **ME)
        assert result.revision == before + 1
        page = await service.history("ns")
        assert [cs.revision for cs in page.entries] == [before + 1, before]
    async with ConfigService(SQLiteStorage(tmp_path)) as reopened:
        assert reopened.revision == before + 1
        assert reopened.namespaces["ns"].document() == {"a": 3}


async def test_a_plan_that_raises_a_bug_fails_that_write_alone(tmp_path: Path) -> None:
    async with ConfigService(SQLiteStorage(tmp_path)) as service:
        await service.create_namespace("ns", "", **ME)
        before = service.revision
        batches_before = len(service.writer.batch_sizes)

        def broken(view: StateView, revision: int, now: float) -> Planned:
            raise TypeError("a bug in a plan")

        outcomes = await asyncio.gather(
            service.put("ns", "a", "1", **ME),
            service.writer.submit(broken),
            service.put("ns", "b", "2", **ME),
            return_exceptions=True,
        )
        assert len(service.writer.batch_sizes) == batches_before + 1  # one batch
        first, failed, last = outcomes
        incident_of(failed)
        assert isinstance(first, WriteResult)
        assert isinstance(last, WriteResult)
        assert (first.revision, last.revision) == (before + 1, before + 2)
        assert service.namespaces["ns"].document() == {"a": 1, "b": 2}


async def test_storage_failure_answers_unavailable_and_says_to_retry(tmp_path: Path) -> None:
    storage = FaultyStorage(tmp_path)
    async with ConfigService(storage) as service:
        await service.create_namespace("ns", "", **ME)
        before = service.revision
        storage.fail_next = StorageFailure(
            "the write could not be stored (disk I/O error); nothing was committed"
        )
        with pytest.raises(StorageFailure) as caught:
            await service.put("ns", "a", "1", **ME)
        assert caught.value.code == "UNAVAILABLE"
        assert str(caught.value) == (
            "configd: the write could not be stored (disk I/O error); nothing was committed; "
            "retry the write, and if it keeps failing ask the operator to check the server's "
            "disk and log"
        )
        assert (await service.put("ns", "a", "2", **ME)).revision == before + 1


async def test_a_failed_commit_leaves_no_gap_in_schema_versions(tmp_path: Path) -> None:
    storage = FaultyStorage(tmp_path)
    async with ConfigService(storage) as service:
        await service.create_namespace("ns", "", **ME)
        second = await service.set_schema("ns", '{"type": "object"}', **ME)
        assert second.change_set.schema.version == 2
        storage.fail_next = StorageFailure("the disk is full")
        with pytest.raises(StorageFailure):
            await service.set_schema("ns", '{"type": "object", "title": "lost"}', **ME)
        third = await service.set_schema("ns", '{"type": "object", "title": "kept"}', **ME)
        assert third.change_set.schema.version == 3
        assert (
            await service.get_schema("ns", 3)
        ).schema_json == third.change_set.schema.schema_json


async def test_a_hung_commit_answers_unavailable_and_applies_only_once_it_lands(
    tmp_path: Path,
) -> None:
    storage = FaultyStorage(tmp_path)
    deadline = 0.3
    async with ConfigService(storage, commit_timeout=deadline) as service:
        await service.create_namespace("ns", "", **ME)
        before = service.revision
        published: list[int] = []
        landed = asyncio.Event()

        def listener(change_sets: Sequence[ChangeSet]) -> None:
            published.extend(cs.revision for cs in change_sets)
            landed.set()

        service.writer.add_listener(listener)
        release = storage.hold = asyncio.Event()
        storage.commit_started.clear()
        started = time.monotonic()
        hung = asyncio.ensure_future(service.put("ns", "a", "1", **ME))
        await storage.commit_started.wait()
        queued = asyncio.ensure_future(service.put("ns", "b", "2", **ME))

        with pytest.raises(Unavailable) as unknown:
            await hung
        assert deadline * 0.9 <= time.monotonic() - started < deadline + 2
        assert str(unknown.value) == (
            "configd: the storage has not answered for 0.3 s, so the outcome of the write is "
            "unknown: retry it with the same request_id (the SDK and configctl do), or read "
            "the keys or the history to check before retrying"
        )
        with pytest.raises(Unavailable, match="writes are refused until it does"):
            await queued
        # While the commit is outstanding, writes fail fast and memory shows nothing of it.
        assert service.writer.stalled
        with pytest.raises(
            Unavailable,
            match=r"has not answered for \d+ s; writes are refused until it does: retry later",
        ):
            await service.put("ns", "c", "3", **ME)
        assert service.revision == before
        assert "a" not in service.namespaces["ns"].entries
        assert published == []

        release.set()
        await asyncio.wait_for(landed.wait(), 5)
        assert published == [before + 1]
        assert service.revision == before + 1
        assert service.namespaces["ns"].document() == {"a": 1}
        stored = await storage.namespace_at("ns", before + 1)
        assert stored is not None
        assert stored.document() == {"a": 1}
        entry, _ = await service.get("ns", "a")
        assert entry.mod_revision == before + 1
        # Normal service resumes with the next revision.
        assert not service.writer.stalled
        assert (await service.put("ns", "c", "3", **ME)).revision == before + 2


async def test_a_hung_commit_that_finally_fails_applies_nothing(tmp_path: Path) -> None:
    storage = FaultyStorage(tmp_path)
    async with ConfigService(storage, commit_timeout=0.2) as service:
        await service.create_namespace("ns", "", **ME)
        before = service.revision
        release = storage.hold = asyncio.Event()
        storage.fail_next = StorageFailure("the disk went away")
        with pytest.raises(Unavailable, match="outcome of the write is unknown"):
            await service.put("ns", "a", "1", **ME)
        assert service.writer.stalled
        release.set()
        await asyncio.wait_for(service.writer.resumed(), 5)
        assert service.revision == before
        result = await service.put("ns", "b", "2", **ME)
        assert result.revision == before + 1
        assert service.namespaces["ns"].document() == {"b": 2}


async def test_stop_does_not_wait_for_a_hung_commit(tmp_path: Path) -> None:
    storage = FaultyStorage(tmp_path)
    service = ConfigService(storage, commit_timeout=0.2)
    await service.open()
    await service.create_namespace("ns", "", **ME)
    before = service.revision
    release = storage.hold = asyncio.Event()
    storage.commit_finished.clear()
    with pytest.raises(Unavailable, match="outcome of the write is unknown"):
        await service.put("ns", "a", "1", **ME)
    await asyncio.wait_for(service.close(), 5)
    with pytest.raises(Unavailable, match="shutting down"):
        await service.put("ns", "b", "2", **ME)
    release.set()  # too late: the storage is closed, so the abandoned commit stores nothing
    await asyncio.wait_for(storage.commit_finished.wait(), 5)
    async with ConfigService(SQLiteStorage(tmp_path)) as reopened:
        assert reopened.revision == before
        assert reopened.namespaces["ns"].document() == {}


async def test_stop_during_a_commit_gives_up_on_it_at_the_deadline(tmp_path: Path) -> None:
    storage = FaultyStorage(tmp_path)
    service = ConfigService(storage, commit_timeout=0.3)
    await service.open()
    await service.create_namespace("ns", "", **ME)
    before = service.revision
    release = storage.hold = asyncio.Event()
    storage.commit_started.clear()
    put = asyncio.ensure_future(service.put("ns", "a", "1", **ME))
    await storage.commit_started.wait()
    started = time.monotonic()
    # Stop waits for the commit in hand, but not past its deadline.
    await asyncio.wait_for(service.close(), 5)
    assert 0.25 <= time.monotonic() - started < 3
    with pytest.raises(Unavailable, match="outcome of the write is unknown"):
        await put
    release.set()
    async with ConfigService(SQLiteStorage(tmp_path)) as reopened:
        assert reopened.revision == before


class _Escapes(BaseException):
    """Not an Exception: passes the writer's per-batch guard, as a bug in the loop would."""


async def test_a_dead_writer_leaves_no_caller_waiting(tmp_path: Path) -> None:
    storage = FaultyStorage(tmp_path)
    async with ConfigService(storage) as service:
        await service.create_namespace("ns", "", **ME)
        release = storage.hold = asyncio.Event()
        storage.fail_next = _Escapes()
        storage.commit_started.clear()
        in_batch = asyncio.ensure_future(service.put("ns", "a", "1", **ME))
        await storage.commit_started.wait()
        queued = asyncio.ensure_future(service.put("ns", "b", "2", **ME))
        release.set()
        failures = await asyncio.gather(in_batch, queued, return_exceptions=True)
        later = await asyncio.gather(service.put("ns", "c", "3", **ME), return_exceptions=True)
        incidents = set()
        for failure in [*failures, *later]:
            assert isinstance(failure, InternalError), repr(failure)
            assert "the writer stopped, so writes are refused until the server restarts" in str(
                failure
            )
            incidents.add(failure.incident)
        assert len(incidents) == 1
