"""Where configd's server CPU goes on a put and a get, layer by layer, against the bare call.

    .venv/bin/python bench/profile_calls.py [--rounds 3] [--per-worker 100] [--rate 400] [--json]

Runs, in each round and alternating so that noise hits all of them alike:
  * the bare-call floor: bench/unary_floor.py's trivial grpc.aio server (uvloop, channelz off)
    driven by the same Python grpc.aio clients, 64 in flight (2 processes x 32);
  * configd (a real `configd serve`, --log-level warning as bench/run.py) under put_bench's
    put-64 and get-64 loads, once plain (CPU per call) and once under py-spy (`record
    --nonblocking --threads`: samples Python stacks of every Python thread without stopping the
    process).
The server's CPU per call comes from /proc (the plain runs); py-spy's samples and /proc's CPU
per thread (the profiled runs) split it into layers: each sample is charged to the innermost
frame that belongs to a layer (LAYERS), a thread's CPU is spread over its samples, and CPU of
threads that run no Python (grpc's C threads) is grpc core. Frames py-spy cannot see without
--native (which stops the process per sample and distorts the load too much to be useful) are
the grpc.aio core and uvloop themselves: a sample whose innermost Python frame is the event
loop's run() is one of those.

The machine is noisy (other processes share its cores): absolute microseconds move by 20% from
run to run, shares (percent of server CPU) much less, and so does the ratio to the bare call
measured in the same run. Read those first. py-spy comes with the dev extra.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import put_bench
import unary_floor

from configd.testing import ConfigdProcess

# (layer, path fragments of a frame's file): the first layer that claims a frame, walking from
# the innermost frame outwards, gets the sample. Frames of no layer (asyncio, dataclass
# __init__, abc) pass the sample on to their caller.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("log line", ("logging/", "configd/store/service.py:ConfigService._log_commits")),
    ("metrics wrapper", ("configd/api/metrics.py", "prometheus_client/", "configd/core/stats.py")),
    ("decode", ("configd/api/decoding.py",)),
    ("auth", ("configd/api/auth.py", "configd/api/identity.py", "configd/store/tokens.py")),
    ("error translation", ("configd/api/errors.py", "configd/api/method.py")),
    ("reply encoding", ("configd/api/handlers.py", "configd/api/convert.py")),
    ("servicer", ("configd/api/config_servicer.py",)),
    ("JSON canonicalisation", ("jsontext.py", "json/")),
    ("schema validation", ("configd/core/schema.py", "wire/schema.py", "jsonschema_rs")),
    (
        "argument checks",
        ("names.py", "configd/core/limits.py", "configd/core/preconditions.py"),
    ),
    ("planning", ("configd/core/changes.py", "configd/core/plan.py", "configd/core/model.py")),
    ("history rows", ("configd/storage/sqlite/store.py:SQLiteStorage.commit",)),
    ("SQLite commit+fsync", ("configd/storage/sqlite/store.py:_transaction", "sqlite3/")),
    (
        "thread hand-off",
        (
            "concurrent/futures/",
            "threading.py",
            "configd/storage/sqlite/store.py:_WriterThread",
            "configd/storage/sqlite/store.py:_Work",
        ),
    ),
    ("writer and publication", ("configd/store/writer.py", "configd/store/live.py")),
    ("watch hub and waiters", ("configd/watch/", "configd/store/applied.py")),
    ("service (read path, plumbing)", ("configd/store/service.py",)),
    ("follower (background)", ("configd/store/follower.py", "follow.py", "aiosqlite/")),
]
GRPC_CORE = "grpc.aio core + uvloop (native)"
GRPC_THREADS = "grpc core C threads"
OTHER = "other Python"
# Threads whose every sample is one layer, whatever their frames.
THREAD_LAYERS = {"_poll_wrapper": GRPC_CORE, "_connection_worker_thread": "follower (background)"}
LOOP_RUN = ("asyncio/runners.py", "uvloop/__init__.py", "configd/server/cli.py")

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \((?P<tid>\d+)\): (?P<name>.*)$")


def frame_layer(frame: str) -> str | None:
    match = _FRAME.match(frame)
    if match is None:
        return None
    key = f"{match['file']}:{match['func']}"
    for layer, fragments in LAYERS:
        if any(fragment in key for fragment in fragments):
            return layer
    return None


def sample_layer(frames: list[str]) -> str:
    """The layer of one sample (frames outermost first, thread name excluded)."""
    for frame in reversed(frames):
        layer = frame_layer(frame)
        if layer is not None:
            return layer
    if not frames or any(part in frames[-1] for part in LOOP_RUN):
        return GRPC_CORE  # in C below the loop's run(): uvloop, grpc's Cython, protobuf
    return OTHER


def parse_raw(path: Path) -> dict[int, tuple[str, Counter[str]]]:
    """py-spy's raw output (one `thread (tid): name;frame;...;frame count` per line): samples
    per layer for each thread."""
    threads: dict[int, tuple[str, Counter[str]]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        head, *frames = stack.split(";")
        match = _THREAD.match(head)
        if match is None:
            continue
        tid, name = int(match["tid"]), match["name"]
        samples = threads.setdefault(tid, (name, Counter()))[1]
        layer = next((v for k, v in THREAD_LAYERS.items() if k in name), None)
        samples[layer or sample_layer(frames)] += int(count)
    return threads


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of `pid` so far."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            found[int(tid)] = cpu_seconds_of(f"/proc/{pid}/task/{tid}/stat")
        except FileNotFoundError:
            continue
    return found


def cpu_seconds_of(stat_path: str) -> float:
    stat = Path(stat_path).read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: install the dev extra (scripts/_venv.sh)")
    return found


def profiled(
    server: ConfigdProcess, kind: str, per_worker: int, rate: int, out: Path
) -> dict[str, float]:
    """One load under py-spy: CPU seconds per layer over the load."""
    before = thread_cpu(server.pid)
    spy = subprocess.Popen(
        [
            py_spy(),
            "record",
            *("--pid", str(server.pid)),
            *("--format", "raw", "--rate", str(rate), "--nonblocking", "--threads"),
            *("--output", str(out)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)  # py-spy attaches
        row = put_bench.scenario(server.grpc_addr, server.pid, kind, 2, 32, per_worker)
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        spy.wait(60)
    after = thread_cpu(server.pid)
    spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    threads = parse_raw(out)
    layers: Counter[str] = Counter()
    for tid, seconds in spent.items():
        if tid not in threads:
            # No sample: grpc's own C threads (named by grpc), or a Python thread py-spy
            # never caught running (a process's threads all carry its name).
            comm = Path(f"/proc/{server.pid}/task/{tid}/comm")
            name = comm.read_text().strip() if comm.exists() else ""
            layers[OTHER if name.startswith("python") else GRPC_THREADS] += seconds
            continue
        samples = threads[tid][1]
        total = sum(samples.values())
        for layer, n in samples.items():
            layers[layer] += seconds * n / total
    total = sum(layers.values())
    return {layer: seconds / total for layer, seconds in layers.items()} | {
        "_ops": row["ops"],
        "_cpu_us": total / row["ops"] * 1e6,
    }


def plain(server: ConfigdProcess, kind: str, per_worker: int) -> float:
    """Server CPU microseconds per call, no profiler attached."""
    row = put_bench.scenario(server.grpc_addr, server.pid, kind, 2, 32, per_worker)
    return row["server_cpu_s"] / row["ops"] * 1e6


def rounds(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        ConfigdProcess(Path(tmp) / "data", "--log-level", args.log_level) as server,
    ):
        put_bench.setup(server.grpc_addr)
        plain(server, "put", 10)  # warm up (compiled schema, label children, connections)
        for round_ in range(args.rounds):
            floor = unary_floor.trivial_calls(unary_floor.python_client, args.per_worker)
            row: dict[str, Any] = {"round": round_, "floor_us": floor["server_us"]}
            for kind in ("put", "get"):
                per_worker = args.per_worker * (2 if kind == "get" else 1)
                row[f"{kind}_us"] = plain(server, kind, per_worker)
                out = (args.raw or Path(tmp)) / f"{kind}-{round_}.txt"
                row[f"{kind}_layers"] = profiled(server, kind, per_worker, args.rate, out)
            print(
                f"  round {round_}: floor {row['floor_us']:.0f} us, put {row['put_us']:.0f} us, "
                f"get {row['get_us']:.0f} us per call (server CPU)",
                file=sys.stderr,
                flush=True,
            )
            yield row


def report(rows: list[dict[str, Any]]) -> None:
    floor = statistics.median(r["floor_us"] for r in rows)
    print(
        f"configd server CPU per call, {len(rows)} round(s), 64 in flight (2 Python grpc.aio "
        f"client processes x 32), {os.cpu_count()} cores, 1-min load {os.getloadavg()[0]:.1f}"
    )
    print(
        "NOISY MACHINE: absolute us vary ~20% between runs; the shares (% of server CPU) and "
        "the ratio to the bare call of the same run are the robust figures."
    )
    print(f"bare grpc.aio unary call (the floor, same clients): {floor:.0f} us")
    for kind in ("put", "get"):
        total = statistics.median(r[f"{kind}_us"] for r in rows)
        names = {k for r in rows for k in r[f"{kind}_layers"] if not k.startswith("_")}
        shares = {
            n: statistics.median(r[f"{kind}_layers"].get(n, 0.0) for r in rows) for n in names
        }
        scale = sum(shares.values()) or 1.0
        print()
        print(f"{kind}: {total:.0f} us per call = {total / floor:.2f}x the bare call")
        print(f"  {'layer':<34}{'us/call':>9}{'share':>8}")
        for name, share in sorted(shares.items(), key=lambda item: -item[1]):
            print(f"  {name:<34}{total * share / scale:>9.0f}{100 * share / scale:>7.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-worker", type=int, default=100, help="puts per caller (gets: 2x)")
    parser.add_argument("--rate", type=int, default=400, help="py-spy samples per second")
    parser.add_argument("--log-level", default="warning", help="configd's (bench/run.py's)")
    parser.add_argument("--json", action="store_true", help="also print each round as JSON")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw stacks in this directory")
    args = parser.parse_args()
    if args.raw is not None:
        args.raw.mkdir(parents=True, exist_ok=True)
    rows = []
    for row in rounds(args):
        rows.append(row)
        if args.json:
            print(json.dumps(row, sort_keys=True))
    report(rows)


if __name__ == "__main__":
    main()
