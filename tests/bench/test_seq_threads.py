"""bench/seq_threads.py and bench/handler_frames.py at a tiny size (not benchmarks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bench.conftest import BenchRun

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_seq_threads_splits_sequential_calls_by_thread_against_another_tree(
    run_bench: Callable[..., BenchRun],
) -> None:
    # The same tree as the "other" one: what is checked is that both servers run and alternate.
    done, rows = run_bench(
        "seq_threads.py", *("--calls", "20", "--rounds", "2", "--compare", str(ROOT)), "--json"
    )

    assert {(row["tree"], row["kind"]) for row in rows} == {
        (tree, kind) for tree in ("this tree", str(ROOT)) for kind in ("put", "get")
    }
    assert len(rows) == 8
    for row in rows:
        assert row["p50_ms"] > 0
        assert row["cpu_us"] == pytest.approx(sum(row["by_thread_us"].values()))
    assert "this tree, put: p50" in done.stdout
    assert f"put p50_ms: this tree - {ROOT}, median of the rounds' differences" in done.stdout


@pytest.mark.timeout(120)
def test_handler_frames_times_get_and_put(run_bench: Callable[..., BenchRun]) -> None:
    done, _ = run_bench("handler_frames.py", "--calls", "2000", "--rounds", "1")

    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Get", "Put"]
    assert all("us per call in the handler" in line for line in lines)
