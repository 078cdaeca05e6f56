"""bench/put_bench.py's Node.js load generator at a tiny size (not a benchmark)."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from tests.bench.conftest import BenchRun


@pytest.mark.timeout(180)
@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (optional)")
def test_node_clients_make_every_call_and_report_their_cpu(
    run_bench: Callable[..., BenchRun],
) -> None:
    done, rows = run_bench(
        "put_bench.py",
        *("--rounds", "1", "--sequential", "20", "--per-worker", "3", "--client", "node"),
        "--json",
    )
    by_scenario = {row["scenario"]: row for row in rows}

    # A failed call (any grpc-status but OK) fails the run, so these counts are successes.
    assert by_scenario["put, 1 in flight"]["ops"] == 20
    assert by_scenario["put, 64 in flight"]["ops"] == 2 * 32 * 3
    assert by_scenario["get, 64 in flight"]["ops"] == 2 * 32 * 12
    for row in rows:
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["client_cpu_s"] > 0
    assert "node clients" in done.stdout
