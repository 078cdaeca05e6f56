"""The store going back in time (issue 17): found by the follower or at the next commit, it
stops writes for good; a store that is only unreachable for a while stops nothing.

Real SQLite files; the lost commits are deleted from the file with sqlite3 (lost_commits.py),
as an asynchronous standby promoted without them would have lost them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from configd.core.errors import StorageFailure, StoreRegressed
from configd.storage.sqlite.files import DB_FILE
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.service import ConfigService
from tests.configd.store.faults import FaultyStorage
from tests.configd.store.lost_commits import lose_commits_after

ME = {"author": "tester", "message": ""}


def regressed_message(store: int, applied: int) -> str:
    return (
        f"configd: the store is at revision {store}, below the {applied} this replica applied: "
        "commits were lost (an asynchronous standby promoted, or the database restored under "
        "a running server?); this replica refuses writes and watches until it is restarted, "
        "and then serves the store's state; see docs/architecture.md, \"When the store goes "
        'back in time"'
    )


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.01)


async def test_the_next_commit_finds_the_store_behind_and_writes_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with ConfigService(SQLiteStorage(tmp_path)) as service:
        await service.create_namespace("ns", "", **ME)
        kept = (await service.put("ns", "a", "1", **ME)).revision
        applied = (await service.put("ns", "a", "2", **ME)).revision
        # The follower would notice within its poll: the writer is to find it here.
        await service.follower.stop()
        lose_commits_after(tmp_path / DB_FILE, kept)
        with caplog.at_level(logging.ERROR, logger="configd.store"):
            with pytest.raises(StoreRegressed) as caught:
                await service.put("ns", "b", "1", **ME)
            assert str(caught.value) == regressed_message(kept, applied)
            assert caught.value.code == "UNAVAILABLE"
            assert (caught.value.store_revision, caught.value.applied) == (kept, applied)
            # For good: a write that would fit the store now is refused too.
            with pytest.raises(StoreRegressed):
                await service.put("ns", "a", "3", **ME)
        assert [r.getMessage() for r in caplog.records if r.name == "configd.store"] == [
            regressed_message(kept, applied).removeprefix("configd: ")
        ]
        assert service.regression.store_revision == kept
        # Reads of memory go on (they may hold lost revisions); a lost revision is not served.
        assert service.namespaces["ns"].document() == {"a": 2}
        with pytest.raises(StoreRegressed):
            await service.get_namespace("ns", applied)
        assert (await service.get("ns", "a", kept))[0].value == 1
        # The store was not written to.
        assert (await service.storage.head()).revision == kept


async def test_lost_commits_whose_numbers_others_took_are_found_at_the_next_catch_up(
    tmp_path: Path,
) -> None:
    async with ConfigService(SQLiteStorage(tmp_path)) as service:
        await service.create_namespace("ns", "", **ME)
        kept = (await service.put("ns", "a", "1", **ME)).revision
        await service.put("ns", "a", "2", **ME)
        applied = (await service.put("ns", "a", "3", **ME)).revision
        await service.follower.stop()  # away while it all happens
        lose_commits_after(tmp_path / DB_FILE, kept)
        # Another replica on the store as it is now takes the lost numbers and goes past:
        # the head is above this process's applied revision again, so only the record of
        # the applied revision shows that the store's history is another one.
        async with ConfigService(SQLiteStorage(tmp_path)) as other:
            for value in ("10", "20", "30"):
                await other.put("ns", "a", value, **ME)
            assert other.revision > applied
        with pytest.raises(StoreRegressed) as refused:
            await service.put("ns", "b", "1", **ME)  # StoreAhead: it catches up, and finds it
        assert f"the store holds another write as revision {applied}" in str(refused.value)
        assert refused.value.store_revision == 0
        assert service.revision == applied  # nothing of the other history was applied
        assert service.namespaces["ns"].document() == {"a": 3}
        with pytest.raises(StoreRegressed):  # where the histories part is unknown
            await service.get("ns", "a", kept)


async def test_the_follower_finds_the_store_behind_without_a_write(tmp_path: Path) -> None:
    async with ConfigService(SQLiteStorage(tmp_path)) as service:
        await service.create_namespace("ns", "", **ME)
        kept = (await service.put("ns", "a", "1", **ME)).revision
        applied = (await service.put("ns", "a", "2", **ME)).revision
        heard: list[StoreRegressed] = []
        service.regression.subscribe(heard.append)
        lose_commits_after(tmp_path / DB_FILE, kept)
        # Within the follower's check interval (1 s) of its last look.
        await until(lambda: service.regression.regressed, "the regression is noticed", 5.0)
        assert [str(e) for e in heard] == [regressed_message(kept, applied)]
        with pytest.raises(StoreRegressed):
            await service.put("ns", "b", "1", **ME)
        # It no longer follows: a store that grows again past the applied revision is not
        # applied on top of what it lost.
        async with ConfigService(SQLiteStorage(tmp_path)) as second:
            for value in range(3):
                await second.put("ns", "c", str(value), **ME)
            assert second.revision > applied
        await asyncio.sleep(1.5)
        assert service.revision == applied
        assert "c" not in service.namespaces["ns"].entries


async def test_a_store_unreachable_for_a_while_is_followed_again_once_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="configd.follower")
    storage = FaultyStorage(tmp_path)
    async with ConfigService(storage) as service:
        await service.create_namespace("ns", "", **ME)
        async with ConfigService(SQLiteStorage(tmp_path)) as second:
            storage.log_fails = StorageFailure("the store is unreachable (test)")
            written = (await second.put("ns", "k", "1", **ME)).revision
            await until(lambda: service.follower.failures >= 2, "log reads fail, retried")
            assert service.revision < written
            # Reads from memory go on meanwhile; a failover is not a regression. A write here
            # must first read what the other process committed: it fails, saying to retry.
            assert service.namespaces["ns"].document() == {}
            with pytest.raises(StorageFailure) as caught:
                await service.put("ns", "k", "2", **ME)
            assert caught.value.code == "UNAVAILABLE"
            assert str(caught.value) == (
                "configd: the store is unreachable (test); retry the write, and if it keeps "
                "failing ask the operator to check the server's disk and log"
            )
            storage.log_fails = None
            await until(lambda: service.revision == written, "caught up once back")
            assert service.namespaces["ns"].document() == {"k": 1}
            assert not service.regression.regressed
            # One traceback for the outage, one line when it is over.
            lines = [r.getMessage() for r in caplog.records if r.name == "configd.follower"]
            assert lines[0] == "following the revision log failed; retrying"
            assert lines[-1].startswith("following the revision log again, after ")
            assert sum(r.exc_info is not None for r in caplog.records) == 1
            # And this process writes again, after the other's write.
            assert (await service.put("ns", "k", "2", **ME)).revision == written + 1
