"""Several processes over one SQLite data directory: who may share it, the store ordering
writes (StoreAhead), the revision log and its doorbell, the maintenance election, and the
compaction floor (the lowest applied revision of the live processes).

Two SQLiteStorage objects in one process hold their locks and connections exactly as two
processes do (flock locks belong to open files); tests/configd/store/test_replicas.py runs
real `configd serve` processes.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from configd.core.errors import ReplicaBehind, StorageFailure
from configd.core.model import ChangeSet, Entry, KeyChange, SchemaVersion, WriteKind
from configd.storage.base import StoreAhead, StoreBehind, StoreHead
from configd.storage.sqlite.backup import RestoreError, restore
from configd.storage.sqlite.files import APPLIED_DIR, LOCK_FILE
from configd.storage.sqlite.store import SQLiteOptions, SQLiteStorage

SCHEMA = SchemaVersion(1, '{"type":"object","maxProperties":5}', 1)


def create(revision: int, name: str = "ns") -> ChangeSet:
    schema = SchemaVersion(1, SCHEMA.schema_json, revision)
    return ChangeSet(
        revision, name, WriteKind.CREATE_NAMESPACE, (), "me", "", 0.0, schema, revision
    )


def put(revision: int, key: str, value: str, create_revision: int = 1) -> ChangeSet:
    new = Entry(value, None, revision, revision, 1)
    schema = SchemaVersion(1, SCHEMA.schema_json, create_revision)
    return ChangeSet(
        revision,
        "ns",
        WriteKind.PUT,
        (KeyChange(key, None, new),),
        "me",
        "",
        0.0,
        schema,
        create_revision,
    )


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStorage, SQLiteStorage]]:
    first, second = SQLiteStorage(tmp_path), SQLiteStorage(tmp_path)
    await first.open()
    try:
        await second.open()
        try:
            yield first, second
        finally:
            await second.close()
    finally:
        await first.close()


async def test_replicas_share_a_directory_and_the_store_orders_their_writes(
    pair: tuple[SQLiteStorage, SQLiteStorage],
) -> None:
    a, b = pair
    await a.commit([create(1), put(2, "x", "1")])
    # b planned on revision 1 (it had not seen 2): refused whole, nothing stored.
    with pytest.raises(StoreAhead) as ahead:
        await b.commit([put(2, "y", "1")])
    assert ahead.value.revision == 2
    assert await b.head() == StoreHead(2, 0)
    log = await b.log_since(0, 10)
    assert [cs.revision for cs in log] == [1, 2]
    # A schema version written by the other process is read on first use.
    assert log[0].schema.schema_json == SCHEMA.schema_json
    assert await b.schema("ns", 1) == log[0].schema
    await b.commit([put(3, "y", "1")])
    assert [cs.revision for cs in await a.log_since(2, 10)] == [3]
    # Planned on a revision the store has not reached (it lost revisions this process
    # applied, or a bug): StoreBehind, with the store's revision, never stored.
    with pytest.raises(StoreBehind) as behind:
        await a.commit([put(9, "z", "1")])
    assert isinstance(behind.value, StorageFailure)
    assert (behind.value.revision, behind.value.base) == (3, 8)
    assert (await a.head()).revision == 3


async def test_the_doorbell_rings_for_the_other_process_only(
    pair: tuple[SQLiteStorage, SQLiteStorage],
) -> None:
    a, b = pair
    waiting = asyncio.ensure_future(b.next_head(StoreHead(0, 0), 30.0))
    started = time.monotonic()
    await a.commit([create(1)])
    head = await asyncio.wait_for(waiting, 10)
    assert head == StoreHead(1, 0)
    assert time.monotonic() - started < 5  # rung (or polled), not the 30 s timeout
    # Its own commit does not ring b's own doorbell.
    await b.commit([put(2, "x", "1")])
    assert await b.next_head(StoreHead(1, 0), 0.3) == StoreHead(1, 0)
    head = await a.next_head(StoreHead(1, 0), 30.0)
    assert head.revision == 2


async def test_a_different_configd_is_refused(tmp_path: Path) -> None:
    first = SQLiteStorage(tmp_path)
    await first.open()
    try:
        other = SQLiteStorage(tmp_path, identity="configd 9.9.9, database schema 7")
        with pytest.raises(StorageFailure, match="must all run the same configd"):
            await other.open()
        # The refusal left nothing held: a same-version replica still joins.
        same = SQLiteStorage(tmp_path)
        await same.open()
        await same.close()
        await same.close()  # closing twice is harmless
    finally:
        await first.close()
    # Once nobody serves, whoever starts first says who serves.
    other = SQLiteStorage(tmp_path, identity="configd 9.9.9, database schema 7")
    await other.open()
    await other.close()


async def test_an_exclusive_holder_is_refused_and_a_restore_is_named(tmp_path: Path) -> None:
    with (tmp_path / LOCK_FILE).open("a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as a configd from before replicas
        with pytest.raises(StorageFailure, match="does not share it"):
            await SQLiteStorage(tmp_path).open()
        held.write(b"restore in progress (pid 1)\n")
        held.flush()
        with pytest.raises(StorageFailure, match="a restore into the data directory"):
            await SQLiteStorage(tmp_path).open()


async def test_restore_is_refused_while_any_replica_serves(tmp_path: Path) -> None:
    source = SQLiteStorage(tmp_path / "source")
    await source.open()
    await source.commit([create(1)])
    await source.backup(tmp_path / "backup.db")
    await source.close()
    live = SQLiteStorage(tmp_path / "live")
    await live.open()
    try:
        with pytest.raises(RestoreError, match="stop it"):
            await asyncio.to_thread(restore, tmp_path / "backup.db", tmp_path / "live", force=True)
    finally:
        await live.close()
    info = await asyncio.to_thread(restore, tmp_path / "backup.db", tmp_path / "live", force=True)
    assert info.revision == 1


async def test_one_maintainer_and_a_takeover_when_it_leaves(tmp_path: Path) -> None:
    first, second = SQLiteStorage(tmp_path), SQLiteStorage(tmp_path)
    await first.open()
    await second.open()
    try:
        assert (first.maintainer, second.maintainer) == (True, False)
        await first.close()
        deadline = time.monotonic() + 10
        while not second.maintainer:
            assert time.monotonic() < deadline, "nobody took over maintenance"
            await asyncio.sleep(0.05)
    finally:
        await first.close()
        await second.close()


# -- the compaction floor: never past what a live process has applied ------------------------

_HOLDER = """
import asyncio, sys
from pathlib import Path
from configd.storage.sqlite.store import SQLiteStorage

async def main() -> None:
    storage = SQLiteStorage(Path(sys.argv[1]))
    await storage.open()
    await storage.report_applied(int(sys.argv[2]))
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def holder(data_dir: Path, applied: int) -> subprocess.Popen[str]:
    """Another process sharing the store that has applied only `applied` (it follows nothing:
    as a process whose follower is stuck)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(data_dir), str(applied)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


async def test_compaction_never_passes_the_lowest_applied_revision(
    pair: tuple[SQLiteStorage, SQLiteStorage],
) -> None:
    a, b = pair
    await a.commit([create(1), *(put(r, "x", str(r)) for r in range(2, 7))])
    await b.report_applied(2)  # b has applied 2: it needs 3.. to catch up
    assert await a.applied_floor() == 2
    with pytest.raises(ReplicaBehind) as refused:
        await a.compact(4)
    assert refused.value.lowest_applied == 2
    assert "has applied only revision 2" in str(refused.value)
    assert "compact at revision 3 or below" in str(refused.value)
    # Refused whole: nothing dropped, the compaction revision unchanged.
    assert await b.head() == StoreHead(6, 0)
    assert [cs.revision for cs in await b.log_since(2, 10)] == [3, 4, 5, 6]
    await a.compact(3)  # what b needs (3 and above) stays
    assert [cs.revision for cs in await b.log_since(2, 10)] == [3, 4, 5, 6]
    await b.report_applied(6)
    await a.compact(6)
    assert (await a.head()).compact_revision == 6


async def test_a_killed_process_does_not_hold_compaction_back(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    await storage.open()
    try:
        await storage.commit([create(1), put(2, "x", "1"), put(3, "x", "2")])
        held = holder(tmp_path, 1)
        try:
            assert await storage.applied_floor() == 1
            with pytest.raises(ReplicaBehind):
                await storage.compact(3)
        finally:
            held.kill()  # SIGKILL: its record stays behind, its lock goes with it
            held.wait()
            assert held.stdout is not None
            held.stdout.close()
        assert len(list((tmp_path / APPLIED_DIR).glob("*.json"))) == 2
        await storage.compact(3)
        assert await storage.applied_floor() == 3
        assert len(list((tmp_path / APPLIED_DIR).glob("*.json"))) == 1  # cleared away
    finally:
        await storage.close()
    assert not list((tmp_path / APPLIED_DIR).glob("*.json"))  # a clean stop removes its own


async def test_a_stopped_process_stops_holding_compaction_back_after_the_bound(
    tmp_path: Path,
) -> None:
    storage = SQLiteStorage(tmp_path, SQLiteOptions(applied_stale_seconds=0.5))
    await storage.open()
    held = holder(tmp_path, 0)
    try:
        await storage.commit([create(1), put(2, "x", "1")])
        assert await storage.applied_floor() == 0
        os.kill(held.pid, signal.SIGSTOP)  # alive, holding its lock, reporting nothing
        deadline = time.monotonic() + 10
        while await storage.applied_floor() == 0:
            assert time.monotonic() < deadline, "a stale record kept holding compaction back"
            await asyncio.sleep(0.05)
        await storage.compact(2)
    finally:
        held.kill()
        held.wait()
        assert held.stdout is not None
        held.stdout.close()
        await storage.close()
