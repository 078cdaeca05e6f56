"""bench/unary_floor.py at a tiny size (not a benchmark)."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from tests.bench.conftest import BenchRun


@pytest.mark.timeout(180)
def test_floor_measures_a_trivial_call_and_a_durable_write(
    run_bench: Callable[..., BenchRun],
) -> None:
    done, rows = run_bench(
        "unary_floor.py", *("--rounds", "1", "--per-worker", "5", "--target", "3000"), "--json"
    )

    expected = {"python", "node"} if shutil.which("node") else {"python"}
    assert {row["client"] for row in rows} == expected
    for row in rows:
        assert row["calls_per_s"] > 0
        assert row["server_us"] > 0
        assert row["client_us"] > 0
    assert "durable SQLite put" in done.stdout
    assert "budget at 3000 puts/s on" in done.stdout
    assert "left for everything else" in done.stdout
