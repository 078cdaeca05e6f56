"""bench/run.py at tiny sizes, so the benchmark scripts keep working (not a benchmark)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from configd.testing_postgres import PostgresMissing, bin_dir

ROOT = Path(__file__).resolve().parents[2]


def run_quick(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    output = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--output", str(output), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    return done.stdout, records


def results_of(records: list[dict[str, Any]], system: str) -> set[str]:
    return {r["workload"] for r in records if r["kind"] == "result" and r["system"] == system}


@pytest.mark.timeout(300)
def test_quick_run_of_every_configd_workload_beside_the_bare_call(tmp_path: Path) -> None:
    table, records = run_quick(tmp_path, "--systems", "configd,floor")

    assert results_of(records, "configd") == {"put-seq", "put-64", "get-64", "sdk", "watch-20"}
    # The bare grpc.aio server answers the put/get workloads only, with the same clients.
    assert results_of(records, "floor") == {"put-seq", "put-64", "get-64"}
    summary = [r for r in records if r["kind"] == "summary" and r["metric"] == "server CPU us/op"]
    assert {r["workload"] for r in summary if r.get("sqlite/bare")} == {
        "put-seq",
        "put-64",
        "get-64",
    }
    assert "bare call" in table
    assert not [r for r in records if r["kind"] == "error"]
    assert records[0]["kind"] == "meta"
    assert records[-1]["kind"] == "end"
    watch = next(r for r in records if r["kind"] == "result" and r["workload"] == "watch-20")
    assert watch["delivered"] == watch["expected_deliveries"]
    for line in ("put, 1 in flight", "get, 64 in flight", "watch, 20 watchers", "get() ns/call"):
        assert line in table
    assert "synchronous=FULL" in table


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd is not installed (optional)")
def test_quick_run_against_etcd(tmp_path: Path) -> None:
    table, records = run_quick(tmp_path, "--systems", "etcd", "--only", "put-seq,get-64,watch")

    assert results_of(records, "etcd") == {"put-seq", "get-64", "watch-20"}
    assert not [r for r in records if r["kind"] == "error"]
    watch = next(r for r in records if r["kind"] == "result" and r["workload"] == "watch-20")
    assert watch["delivered"] == watch["expected_deliveries"]
    assert "not available" not in table


@pytest.mark.timeout(300)
def test_without_etcd_the_table_says_why_and_configd_still_runs(tmp_path: Path) -> None:
    env = {**os.environ, "ETCD_BIN": str(tmp_path / "no-etcd-here")}
    table, records = run_quick(tmp_path, "--systems", "configd,etcd", "--only", "put-seq", env=env)

    assert results_of(records, "configd") == {"put-seq"}
    assert "etcd: not available (" in table
    assert "no-etcd-here" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--only", "nope"), "unknown workload 'nope'"),
        (("--replicas", "2"), "--replicas needs --store postgresql"),
        (("--store", "mysql"), "unknown --store 'mysql'"),
    ],
)
def test_bad_options_are_refused_by_name(args: tuple[str, ...], message: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (optional)")
def test_quick_run_with_two_workers_sums_their_cpu_and_prints_the_ceiling(tmp_path: Path) -> None:
    table, records = run_quick(
        tmp_path,
        *("--systems", "configd", "--only", "put-64,get-64,watch"),
        *("--workers", "2", "--watch-client", "node"),
    )

    assert results_of(records, "configd") == {"put-64", "get-64", "watch-20"}
    assert not [r for r in records if r["kind"] == "error"]
    for row in (r for r in records if r["kind"] == "result"):
        shares = row["server_cpu_s_by_process"]
        assert len(shares) == 2  # the two workers, not the supervisor
        assert row["server_cpu_s"] == pytest.approx(sum(shares.values()))
    put = next(r for r in records if r["kind"] == "result" and r["workload"] == "put-64")
    assert put["ops"] == 2 * 32 * 2
    assert put["server_cores_assumed"] == 2
    watch = next(r for r in records if r["kind"] == "result" and r["workload"] == "watch-20")
    assert watch["delivered"] == watch["expected_deliveries"]
    assert set(watch["cross_added_ms"]) == {"p50", "p99"}
    for line in ("configd serve --workers 2", "ceiling ops/s, 2 cores", "cross-worker adds p99"):
        assert line in table


@pytest.mark.timeout(300)
def test_quick_run_on_sqlite_and_two_postgresql_replicas(tmp_path: Path) -> None:
    try:
        bin_dir()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    table, records = run_quick(
        tmp_path,
        *("--systems", "configd", "--only", "put-64,get-64,watch"),
        *("--store", "sqlite,postgresql", "--replicas", "2"),
    )

    assert not [r for r in records if r["kind"] == "error"]
    assert results_of(records, "configd") == {"put-64", "get-64", "watch-20"}
    assert results_of(records, "configd-pg") == {"put-64", "get-64", "watch-20"}
    put = next(r for r in records if r["kind"] == "result" and r["system"] == "configd-pg")
    assert len(put["server_cpu_s_by_process"]) == 2  # both replicas answered
    assert put["store_cpu_s"] > 0  # PostgreSQL's own processes, apart
    watch = next(
        r
        for r in records
        if r["kind"] == "result" and r["system"] == "configd-pg" and r["workload"] == "watch-20"
    )
    assert watch["replicas"] == 2
    assert watch["delivered"] == watch["expected_deliveries"]
    for line in ("PostgreSQL CPU us/op", "pg/sqlite", "cross-replica delivery"):
        assert line in table
