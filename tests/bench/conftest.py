"""Running a bench/ script at a tiny size, as a user would (a subprocess in a scratch dir)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

BenchRun = tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]


@pytest.fixture
def run_bench(tmp_path: Path) -> Callable[..., BenchRun]:
    """run_bench("put_bench.py", *args): asserts it exits 0; returns the finished process and
    the JSON lines it printed on stdout."""

    def run(script: str, *args: str) -> BenchRun:
        done = subprocess.run(
            [sys.executable, str(BENCH / script), *args],
            capture_output=True,
            text=True,
            timeout=150,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return done, rows

    return run
