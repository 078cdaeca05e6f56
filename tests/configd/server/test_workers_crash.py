"""SIGKILL of single workers of `configd serve --workers N` in the middle of write batches,
repeated: nothing acknowledged is lost, the revision log has no hole, the other workers serve
throughout and the supervisor replaces each killed worker (issue 16).

The rounds are tests/configd/crash_harness.py's `run_worker_round` (its module docstring has
every check); bench/crash_rounds.py --workers N runs many more of them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.configd.crash_harness import CrashHarness


async def test_workers_killed_mid_batch_lose_nothing_and_are_replaced(tmp_path: Path) -> None:
    harness = CrashHarness(tmp_path / "data", writers=4, watchers=2, workers=3, pause=0.005)
    await harness.setup()
    try:
        await asyncio.to_thread(harness._wait_workers, set())
        # Two workers one after the other (both replaced together), then one more.
        await harness.run_worker_round(0, kills=2)
        await harness.run_worker_round(1, kills=1)
    finally:
        harness.close()
    # The stopped server's file, read-only: integrity_check, every acknowledged write, no hole.
    on_disk = harness.check_database()
    assert on_disk == harness.reports[-1].revision
    killed = {pid for report in harness.reports for pid in report.victims}
    assert len(killed) == 3  # three different workers, each replaced
    assert all(report.acked > 0 and report.reads > 0 for report in harness.reports)
    assert harness.seen[0] == list(range(1, on_disk + 1))
