"""bench/watch_bench.py's Node.js watchers at a tiny size (not a benchmark)."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bench.conftest import BENCH, BenchRun


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


@pytest.mark.timeout(180)
@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (optional)")
def test_with_two_workers_every_delivery_is_counted_on_its_path(
    run_bench: Callable[..., BenchRun],
) -> None:
    done, (row,) = run_bench(
        "watch_bench.py",
        *("--watchers", "30", "--runs", "1", "--rounds", "4", "--interval", "0.2"),
        *("--client", "node", "--procs", "2", "--workers", "2", "--json"),
    )

    assert row["delivered"] == row["expected_deliveries"] == 120
    assert row["limits_hit"] == []
    # Every stream was found on one of the two workers, and the writes went to both in turn.
    per_worker = row["watchers_per_worker"]
    assert len(per_worker) == 2
    assert "?" not in per_worker
    assert sum(per_worker.values()) == 30
    assert {r["worker"] for r in row["per_round"]} == {int(pid) for pid in per_worker}
    assert set(row["server_cpu_s_by_process"]) == set(per_worker)
    # A delivery is on the same-worker path when its stream's worker took the write: with the
    # writes alternating, each path gets 2 writes x the other worker's streams.
    a, b = per_worker.values()
    assert row["same_worker_ms"]["count"] == row["cross_worker_ms"]["count"] == 2 * a + 2 * b
    assert set(row["cross_added_ms"]) == {"p50", "p99"}
    assert "cross-worker adds" in done.stderr


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (optional)")
def test_a_run_stopped_by_the_servers_open_file_limit_names_that_limit(tmp_path: Path) -> None:
    def low_fd_limit() -> None:  # for the benchmark and so for the server it starts
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "watch_bench.py"),
            *("--watchers", "300", "--runs", "1", "--rounds", "1", "--client", "node"),
            *("--procs", "2", "--open-stall", "3", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=tmp_path,
        preexec_fn=low_fd_limit,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert 0 < row["opened"] < 300
    reasons = row["stopped_by"]
    assert reasons[0].startswith("server process")
    assert "is at its open-file limit" in reasons[0]
    assert any(f"{row['opened']} of 300 streams ready" in reason for reason in reasons)
    assert "STOPPED while opening the streams: server process" in done.stderr
    assert "no complete run" in done.stderr
