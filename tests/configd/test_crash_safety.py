"""SIGKILL under concurrent writes and watches loses no acknowledged write (issue 8).

The long version (>= 50 rounds) is bench/crash_rounds.py; see tests/configd/crash_harness.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.configd.crash_harness import CrashHarness


async def test_sigkill_under_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    harness = CrashHarness(tmp_path / "data", writers=4, watchers=2)
    await harness.setup()
    try:
        for number in range(5):
            await harness.run_round(number)
    finally:
        harness.close()
    assert all(report.acked > 0 for report in harness.reports)
    assert harness.seen[0] == list(range(1, harness.reports[-1].revision + 1))
