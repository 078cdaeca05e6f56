"""Maintenance among replicas (issue 16): compaction never passes the lowest applied revision
of the live processes, a follower whose history was compacted away gives up instead of
skipping, and a follower's lag is measured.

Two ConfigService objects over one directory in this process, each with its own storage,
locks, writer and follower, exactly as two processes have. A replica is made to lag the way a
real one does when its writer has a commit in flight: its follower waits for the writer
(LiveState.begin_commit, the writer's own hold), while the other replica writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from configd.core.errors import ReplicaBehind, Unavailable
from configd.storage.sqlite.store import SQLiteOptions, SQLiteStorage
from configd.store.compactor import Compactor, Retention
from configd.store.service import ConfigService
from tests.waits import until_async

ME = {"author": "tester", "message": ""}
DEADLINE = 10.0


async def until(condition: Callable[[], bool], what: str) -> None:
    await until_async(condition, what, DEADLINE)


@contextlib.contextmanager
def writer_holding(service: ConfigService) -> Iterator[None]:
    """`service`'s follower waits, as it does while its writer has a commit in flight."""
    service._state.begin_commit()
    try:
        yield
    finally:
        service._state.end_commit()


async def write(service: ConfigService, count: int) -> int:
    revision = 0
    for i in range(count):
        revision = (await service.put("app", "k", str(i), **ME)).change_set.revision
    return revision


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[ConfigService, ConfigService]]:
    # a opens first: it is the maintainer. Its records reader skips a process that reported
    # nothing for 1 s (the bound is a minute by default).
    options = SQLiteOptions(applied_stale_seconds=1.0)
    async with (
        ConfigService(SQLiteStorage(tmp_path, options)) as a,
        ConfigService(SQLiteStorage(tmp_path)) as b,
    ):
        await a.create_namespace("app", "", **ME)
        await until(lambda: b.revision == a.revision, "b follows a")
        yield a, b


async def test_a_lagging_replica_holds_compaction_back_and_then_catches_up(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    assert (a.maintainer, b.maintainer) == (True, False)
    compactor = Compactor(a, Retention(keep_revisions=1, keep_seconds=0))
    behind = b.revision
    with writer_holding(b):
        head = await write(a, 20)
        await until(lambda: b.follower.lag().store == head, "b notices the head")
        assert b.revision == behind
        # The retention asks for `head`; a live replica at `behind` still needs behind + 1.
        assert await compactor.run_once() == behind + 1
        with pytest.raises(ReplicaBehind) as refused:
            await a.compact(head)  # the operator's Compact, on any process
        assert refused.value.lowest_applied == behind
        assert f"compact at revision {behind + 1} or below" in refused.value.detail
        assert a.compact_revision == behind + 1  # the refusal changed nothing
    # Released, b applies every revision it missed (none was compacted away) ...
    await until(lambda: b.revision == head, "b catches up")
    assert not b.follower.fallen_behind.is_set()
    assert (await b.get("app", "k"))[0].value_json == "19"
    # ... and once it has said so, compaction goes on.
    deadline = time.monotonic() + DEADLINE
    while await compactor.run_once() < head:
        assert time.monotonic() < deadline, "compaction stayed held back"
        await asyncio.sleep(0.05)


async def test_lag_is_how_long_a_noticed_revision_has_waited(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    assert b.follower.lag().seconds == 0.0
    with writer_holding(b):
        head = await write(a, 3)
        await until(lambda: b.follower.lag().seconds > 0.2, "b's lag grows")
        lag = b.follower.lag()
        assert (lag.applied, lag.store) == (head - 3, head)
    await until(lambda: b.follower.lag().seconds == 0.0, "b is current again")
    assert (b.follower.lag().applied, b.follower.lag().store) == (head, head)


async def test_a_follower_whose_history_was_compacted_away_gives_up(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    behind = b.revision
    with writer_holding(b):
        head = await write(a, 5)
        # b reports nothing while held; past the bound its record no longer counts.
        deadline = time.monotonic() + DEADLINE
        while (await a.applied_floor()) != head:
            assert time.monotonic() < deadline, "b's stale record kept holding compaction"
            await asyncio.sleep(0.05)
        await a.compact(head)
    # b needs behind + 1, which is gone: it never skips it, it gives up.
    await asyncio.wait_for(b.follower.fallen_behind.wait(), DEADLINE)
    reason = b.follower.fallen_behind_reason
    assert f"has applied revision {behind}" in reason
    assert f"compacted its history below revision {head}" in reason
    assert b.revision == behind
    # A write through b cannot be planned on a state it cannot reach: refused, not stored.
    with pytest.raises(Unavailable, match="cannot catch up"):
        await b.put("app", "k", "99", **ME)
    assert (await a.get("app", "k"))[0].value_json == "4"
