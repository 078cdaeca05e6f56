"""bench/profile_calls.py at a tiny size (not a benchmark): it profiles a real server."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bench.conftest import BenchRun


@pytest.mark.timeout(180)
@pytest.mark.skipif(
    shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists(),
    reason="py-spy (dev extra) is not installed",
)
def test_profile_splits_put_and_get_into_layers_against_the_bare_call(
    run_bench: Callable[..., BenchRun],
) -> None:
    done, rows = run_bench(
        "profile_calls.py", *("--rounds", "1", "--per-worker", "5", "--rate", "200"), "--json"
    )

    (row,) = rows
    assert row["floor_us"] > 0
    for kind in ("put", "get"):
        assert row[f"{kind}_us"] > 0
        layers = {k: v for k, v in row[f"{kind}_layers"].items() if not k.startswith("_")}
        assert sum(layers.values()) == pytest.approx(1.0)
        assert "grpc.aio core + uvloop (native)" in layers
    assert "bare grpc.aio unary call" in done.stdout
    assert "x the bare call" in done.stdout
    assert "NOISY MACHINE" in done.stdout
