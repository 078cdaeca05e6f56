"""Several processes over one SQLite data directory: who may share it (versions, restores)
and the compaction floor's file records (a killed or stopped process). What every backend
does across processes (StoreAhead, the doorbell, maintenance, the floor) is in
test_contract.py.

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
from pathlib import Path

import pytest

from configd.core.errors import ReplicaBehind, StorageFailure
from configd.storage.sqlite.backup import RestoreError, restore
from configd.storage.sqlite.files import APPLIED_DIR, LOCK_FILE
from configd.storage.sqlite.store import SQLiteOptions, SQLiteStorage
from tests.configd.storage.writes import create, put


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
