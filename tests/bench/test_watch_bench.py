"""bench/watch_bench.py's Node.js watchers at a tiny size (not a benchmark)."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from tests.bench.conftest import BenchRun


@pytest.mark.timeout(180)
@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (optional)")
def test_node_watchers_receive_every_delivery_with_its_commit_time(
    run_bench: Callable[..., BenchRun],
) -> None:
    done, (row,) = run_bench(
        "watch_bench.py",
        *("--watchers", "30", "--runs", "1", "--rounds", "3", "--interval", "0.2"),
        *("--client", "node", "--procs", "2", "--json"),
    )

    assert row["client"] == "node"
    assert row["open_failed"] == 0
    assert row["client_errors"] == []
    assert row["delivered"] == row["expected_deliveries"] == 90
    assert row["complete_watchers"] == 30
    # Latency from the change set's own commit time: decoded from the stream, so positive and
    # far below the time limit of the run.
    assert 0 < row["from_stamp_ms"]["p50"] < 5_000
    assert "N=    30" in done.stderr
