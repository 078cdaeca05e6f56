"""bench/watch_bench.py's Node.js watchers at a tiny size (not a benchmark)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (optional)")
def test_node_watchers_receive_every_delivery_with_its_commit_time(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "watch_bench.py"),
            *("--watchers", "30", "--runs", "1", "--rounds", "3", "--interval", "0.2"),
            *("--client", "node", "--procs", "2", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

    assert row["client"] == "node"
    assert row["open_failed"] == 0
    assert row["client_errors"] == []
    assert row["delivered"] == row["expected_deliveries"] == 90
    assert row["complete_watchers"] == 30
    # Latency from the change set's own commit time: decoded from the stream, so positive and
    # far below the time limit of the run.
    assert 0 < row["from_stamp_ms"]["p50"] < 5_000
    assert "N=    30" in done.stderr
