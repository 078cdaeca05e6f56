"""One command for configd's benchmarks, side by side with etcd on the same machine.

    .venv/bin/python bench/run.py                      # everything, configd and etcd
    .venv/bin/python bench/run.py --quick --systems configd   # tiny sizes (the smoke test)
    .venv/bin/python bench/run.py --only watch --rounds 5
    .venv/bin/python bench/run.py --workers 2 --watch-client node   # configd serve --workers 2
    .venv/bin/python bench/run.py --store sqlite,postgresql          # configd on both stores
    .venv/bin/python bench/run.py --store postgresql --replicas 2   # 2 replicas, one database

Workloads (--only, comma-separated):
  put-seq   sequential puts (1 in flight): latency and throughput
  put-64    puts with 64 in flight (2 client processes x 32)
  get-64    gets with 64 in flight (2 client processes x 32)
  sdk       configd only: the SDK's local get() and commit-to-visible latency (bench/sdk_bench.py)
  watch     delivery latency to 1,000 and 5,000 watchers, one connection each, and server
            memory per watcher (configd: bench/watch_bench.py in a subprocess; etcd:
            bench/etcd_bench.py, the same method). --watch-client node holds the streams in
            Node.js processes (bench/watch_client.mjs) instead of Python ones, for both systems

Both servers run with their default durability: configd acknowledges a write once its SQLite
transaction is fsynced (synchronous=FULL) and validates every write against the namespace's
JSON Schema; etcd (a single member) once the entry is in its fsynced WAL. Authentication is off
on both, logging at warning level. The put/get workloads alternate between the systems inside
each round, so a burst of noise from other processes hits both. Client load runs in separate
processes; the server's and the clients' CPU seconds are reported beside each figure, so a
reader can tell when the client side (Python) is the bottleneck. Figures are medians over
--rounds rounds; the raw results are written as JSON lines to bench/results/<timestamp>.jsonl
(gitignored) or --output. etcd comes from `apt-get install etcd-server` (or ETCD_BIN); without
it the etcd column says why it is missing and the configd side still runs.

Server CPU per operation: the server's user+system CPU over a workload (/proc; with --workers N
the sum over the supervisor's N worker processes, each one's share in the raw results and on
the cpu line) divided by the calls it answered, or by the deliveries for a watch. A machine
shared with its load generator cannot show what more cores buy, so the table also prints the
implied throughput ceiling on N server cores, N = --workers: N / (server CPU per op). It
assumes CPU is the only limit, that the load spreads evenly over the workers (the kernel
spreads connections, so with --workers > 1 each configd client process opens 4) and that each
worker, one Python event loop, uses about one core. Puts also serialise on the one SQLite
write lock and its fsync, which the ceiling does not model; etcd gets the same N cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS_DIR, channels_per_worker, server_processes, wait_applied
from _stores import STORES, Deployment, cpu_since
from _watchers import CLIENT_KINDS

from configd.testing import ConfigdProcess
from configd.testing_postgres import bin_dir

BENCH = Path(__file__).resolve().parent

WORKLOADS = ("put-seq", "put-64", "get-64", "sdk", "watch")
KV_WORKLOADS = ("put-seq", "put-64", "get-64")
SYSTEMS = ("configd", "configd-pg", "floor", "etcd")
# The system each --store runs as: configd on SQLite keeps the name it always had.
STORE_SYSTEM = {"sqlite": "configd", "postgresql": "configd-pg"}


@dataclass(frozen=True)
class Sizes:
    sequential: int  # puts per sequential run
    put_per_worker: int  # calls per in-flight slot (64 slots)
    get_per_worker: int
    watchers: tuple[int, ...]
    watch_writes: int  # writes per watch run
    watch_interval: float  # seconds between them
    watch_procs: int  # client processes holding the watch streams
    sdk_writes: int
    sdk_calls: int  # get() calls per timing loop


FULL = Sizes(
    sequential=1000,
    put_per_worker=100,
    get_per_worker=250,
    watchers=(1000, 5000),
    watch_writes=5,
    watch_interval=1.0,
    watch_procs=4,
    sdk_writes=200,
    sdk_calls=200_000,
)
QUICK = Sizes(
    sequential=20,
    put_per_worker=2,
    get_per_worker=5,
    watchers=(20,),
    watch_writes=2,
    watch_interval=0.2,
    watch_procs=2,
    sdk_writes=10,
    sdk_calls=5_000,
)


class Results:
    """Every measurement, appended to the JSON-lines file as it is taken."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.rows: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"run": self.run_id, "kind": kind, **fields}
        with self.path.open("a") as out:
            out.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        if kind == "result":
            self.rows.append(record)
        elif kind == "error":
            self.errors.append(record)
        return record

    def of(self, workload: str, system: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["workload"] == workload and r["system"] == system]


# -- environment --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "configd_commit": _git("rev-parse", "--short", "HEAD"),
        "configd_tree_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(BENCH.parent), *args], capture_output=True, text=True, timeout=30
        )
    except OSError:
        return ""
    return out.stdout.strip()


def etcd_status() -> tuple[str | None, str]:
    """(binary, version) when etcd can run here, else (None, the reason)."""
    import etcd_bench

    binary = etcd_bench.etcd_binary()
    if binary is None:
        return None, "no etcd binary on PATH (apt-get install etcd-server, or set ETCD_BIN)"
    try:
        version = etcd_bench.etcd_version(binary)
        etcd_bench.stubs()
        with etcd_bench.EtcdProcess(binary):
            pass
    except Exception as exc:  # any failure here means "etcd: not available (why)"
        why = " ".join(str(exc).split())  # one line: the table's etcd row
        return None, f"{binary} does not start here: {why[-300:]}"
    return binary, version


# -- phases -------------------------------------------------------------------------------------


class Budget:
    """The suite's time limit: a phase starts a new unit of work only while time remains."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.began = time.monotonic()
        self.skipped: list[str] = []

    def allows(self, what: str) -> bool:
        if time.monotonic() - self.began < self.seconds:
            return True
        self.skipped.append(what)
        return False


def kv_phase(
    results: Results,
    workloads: Sequence[str],
    deployments: dict[str, Deployment],
    etcd_binary: str | None,
    sizes: Sizes,
    rounds: int,
    budget: Budget,
    workers: int = 1,
    floor: bool = False,
) -> None:
    """put-seq, put-64, get-64: one server per system for all rounds; the systems take turns
    within each round, so noise from elsewhere on the machine hits them all. `floor`: the
    bare grpc.aio server of floor_server() takes its turn too. `deployments`:
    configd per system (SQLite; PostgreSQL with its replicas, the client processes spread
    over them). `workers`: configd on SQLite runs as `serve --workers N`; its CPU is summed
    over the workers, as it is over the replicas; PostgreSQL's own processes are counted
    apart (store_cpu_s)."""
    import functools

    import etcd_bench
    import put_bench

    plan = {
        "put-seq": ("put", 1, 1, sizes.sequential),
        "put-64": ("put", 2, 32, sizes.put_per_worker),
        "get-64": ("get", 2, 32, sizes.get_per_worker),
    }
    with ExitStack() as stack:
        servers: dict[str, tuple[list[str], list[int], Callable[..., None], Deployment | None]]
        servers = {}
        for system, deployment in deployments.items():
            import grpc

            addrs = deployment.addrs
            revision = put_bench.setup(addrs[0])
            client: Callable[..., None] = put_bench.client
            if deployment.store == "sqlite":
                pids = server_processes(deployment.servers[0], workers)
                channels = list(channels_per_worker(addrs[0], pids).values()) if workers > 1 else []
            else:
                pids = [server.pid for server in deployment.servers]
                channels = [grpc.insecure_channel(addr) for addr in addrs]
            wait_applied(channels, revision)  # no worker or replica still catching up
            for channel in channels:
                channel.close()
            if workers > 1:
                # The kernel spreads connections, not calls: several per client process.
                client = functools.partial(put_bench.client, connections=4)
            servers[system] = (addrs, pids, client, deployment)
        if floor:
            addr, pid = stack.enter_context(floor_server())
            servers["floor"] = ([addr], [pid], put_bench.client, None)
        if etcd_binary is not None:
            etcd = stack.enter_context(etcd_bench.EtcdProcess(etcd_binary))
            etcd_bench.setup_kv(etcd.grpc_addr)
            servers["etcd"] = ([etcd.grpc_addr], [etcd.pid], etcd_bench.kv_client, None)
        for round_ in range(rounds):
            for workload in workloads:
                kind, processes, concurrency, per_worker = plan[workload]
                for system, (addrs, pids, target, deployment) in servers.items():
                    if not budget.allows(f"{workload} {system} round {round_}"):
                        continue
                    with reporting(results, workload, system, round_):
                        store_before = deployment.store_cpu() if deployment else {}
                        row = put_bench.scenario(
                            addrs, pids, kind, processes, concurrency, per_worker, target
                        )
                        if deployment is not None and deployment.store != "sqlite":
                            row["store_cpu_s"] = cpu_since(store_before, deployment.store_cpu())
                            row["store_cpu_us_per_op"] = row["store_cpu_s"] / row["ops"] * 1e6
                        cores = (
                            len(pids) if deployment and deployment.store != "sqlite" else workers
                        )
                        row["ceiling_ops_per_s"] = ceiling(row["server_cpu_us_per_op"], cores)
                        row["server_cores_assumed"] = cores
                        results.write(
                            "result", workload=workload, system=system, round=round_, **row
                        )
                        _progress(workload, system, round_, row)


def sdk_phase(
    results: Results, server: ConfigdProcess, sizes: Sizes, rounds: int, budget: Budget
) -> None:
    """configd's SDK: get() cost and commit-to-visible latency (in this process)."""
    import grpc
    import sdk_bench

    from configd_client.wire import config_pb2_grpc

    with grpc.insecure_channel(server.grpc_addr) as channel:
        sdk_bench.prepare(config_pb2_grpc.ConfigServiceStub(channel))
    for round_ in range(rounds):
        if not budget.allows(f"sdk round {round_}"):
            continue
        with reporting(results, "sdk", "configd", round_):
            result = sdk_bench.one_run(server.grpc_addr, sizes.sdk_writes, sizes.sdk_calls)
            row = asdict(result)
            results.write("result", workload="sdk", system="configd", round=round_, **row)
            _progress("sdk", "configd", round_, row)


def watch_phase(
    results: Results,
    systems: Sequence[str],
    etcd_binary: str | None,
    sizes: Sizes,
    rounds: int,
    budget: Budget,
    serve_args: Sequence[str],
    client: str = "python",
    workers: int = 1,
    replicas: int = 1,
) -> None:
    """A fresh server per system, watcher count and round (watch_bench's method), watched by
    `client` processes (bench/_watchers.py); configd as `serve --workers N`; configd-pg as
    `replicas` processes on a fresh PostgreSQL cluster, the watchers on the last replica and
    the writes on the first (with 2 or more: cross-replica delivery)."""
    import etcd_bench

    for round_ in range(rounds):
        for watchers in sizes.watchers:
            workload = f"watch-{watchers}"
            for system in systems:
                if (system == "etcd" and etcd_binary is None) or system == "floor":
                    continue
                if not budget.allows(f"{workload} {system} round {round_}"):
                    continue
                with reporting(results, workload, system, round_):
                    if system == "configd":
                        row = configd_watch(watchers, sizes, serve_args, client, workers)
                    elif system == "configd-pg":
                        store = ("--store", "postgresql", "--replicas", str(replicas))
                        row = configd_watch(watchers, sizes, serve_args, client, 1, store)
                    else:
                        assert etcd_binary is not None
                        row = etcd_bench.run_watch(
                            etcd_binary,
                            watchers,
                            sizes.watch_procs,
                            sizes.watch_writes,
                            sizes.watch_interval,
                            client,
                        )
                    row.pop("per_round", None)
                    if row.get("delivered"):
                        for part in ("server", "store"):
                            if f"{part}_cpu_s" in row:
                                row[f"{part}_cpu_us_per_delivery"] = (
                                    row[f"{part}_cpu_s"] / row["delivered"] * 1e6
                                )
                    results.write("result", workload=workload, system=system, round=round_, **row)
                    _progress(workload, system, round_, row)


@contextmanager
def floor_server() -> Iterator[tuple[str, int]]:
    """(address, pid) of bench/unary_floor.py's configd-shaped bare server: grpc.aio on uvloop
    answering configd's Get and Put paths with canned replies of configd's size, nothing
    decoded, validated or stored. The same clients call it as they call configd, so its
    column is the RPC's own cost in this run, and configd/floor is what configd adds."""
    import multiprocessing as mp

    import unary_floor

    ctx = mp.get_context("spawn")
    port_out, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=unary_floor.configd_shaped_server, args=(port_out, stop))
    process.start()
    try:
        yield f"127.0.0.1:{port_out.get(timeout=60)}", process.pid or 0
    finally:
        stop.set()
        process.join(30)
        if process.is_alive():
            process.kill()


def ceiling(cpu_us_per_op: float, cores: int) -> float:
    """Operations per second that `cores` cores of server CPU sustain at this cost (the
    module doc states the assumptions)."""
    return cores * 1e6 / cpu_us_per_op if cpu_us_per_op > 0 else float("nan")


def configd_watch(
    watchers: int,
    sizes: Sizes,
    serve_args: Sequence[str],
    client: str,
    workers: int = 1,
    store: Sequence[str] = (),
) -> dict[str, Any]:
    """bench/watch_bench.py as a subprocess (its JSON-lines output), one run; `store`: its
    --store and --replicas arguments."""
    command = [
        sys.executable,
        str(BENCH / "watch_bench.py"),
        "--json",
        "--watchers",
        str(watchers),
        "--runs",
        "1",
        "--rounds",
        str(sizes.watch_writes),
        "--interval",
        str(sizes.watch_interval),
        "--procs",
        str(sizes.watch_procs),
        "--client",
        client,
        "--workers",
        str(workers),
        *store,
        *(f"--server-arg={arg}" for arg in _joined(serve_args)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    rows = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "watchers" in record:
                rows.append(record)
    if done.returncode != 0 or not rows:
        raise RuntimeError(
            f"watch_bench.py exited {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    row: dict[str, Any] = rows[-1]
    return row


def _joined(args: Sequence[str]) -> Iterator[str]:
    """["--log-level", "warning", "--no-auth"] -> "--log-level=warning", "--no-auth"."""
    items = list(args)
    while items:
        flag = items.pop(0)
        if items and not items[0].startswith("--"):
            yield f"{flag}={items.pop(0)}"
        else:
            yield flag


@contextmanager
def reporting(results: Results, workload: str, system: str, round_: int) -> Iterator[None]:
    """A failed measurement is recorded (and printed) and the suite goes on."""
    try:
        yield
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        results.write(
            "error",
            workload=workload,
            system=system,
            round=round_,
            error=message,
            traceback=traceback.format_exc(),
        )
        print(f"  {workload:<11} {system:<8} round {round_}: FAILED {message}", file=sys.stderr)


def _progress(workload: str, system: str, round_: int, row: dict[str, Any]) -> None:
    brief = {
        k: round(v, 2) if isinstance(v, float) else v
        for k, v in row.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    text = " ".join(f"{k}={v}" for k, v in list(brief.items())[:9])
    print(f"  {workload:<11} {system:<8} round {round_}: {text}", file=sys.stderr, flush=True)


# -- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    workload: str
    label: str
    path: tuple[str, ...]
    better: str  # "lower" or "higher"; "" for context figures (no ratio)
    fmt: str = "{:.2f}"
    configd_only: bool = False


def metrics(sizes: Sizes, workers: int = 1) -> list[Metric]:
    def cpu(workload: str) -> list[Metric]:
        return [
            Metric(workload, "server CPU us/op", ("server_cpu_us_per_op",), "lower", "{:.0f}"),
            Metric(workload, "PostgreSQL CPU us/op", ("store_cpu_us_per_op",), "", "{:.0f}"),
            Metric(
                workload,
                f"ceiling ops/s, {workers} core{'s' if workers > 1 else ''}",
                ("ceiling_ops_per_s",),
                "higher",
                "{:.0f}",
            ),
        ]

    rows = [
        Metric("put-seq", "p50 latency ms", ("p50_ms",), "lower"),
        Metric("put-seq", "p99 latency ms", ("p99_ms",), "lower"),
        Metric("put-seq", "throughput ops/s", ("ops_per_s",), "higher", "{:.0f}"),
        *cpu("put-seq"),
        Metric("put-64", "throughput ops/s", ("ops_per_s",), "higher", "{:.0f}"),
        Metric("put-64", "p50 latency ms", ("p50_ms",), "lower"),
        Metric("put-64", "p99 latency ms", ("p99_ms",), "lower"),
        *cpu("put-64"),
        Metric("get-64", "throughput ops/s", ("ops_per_s",), "higher", "{:.0f}"),
        Metric("get-64", "p50 latency ms", ("p50_ms",), "lower"),
        Metric("get-64", "p99 latency ms", ("p99_ms",), "lower"),
        *cpu("get-64"),
    ]
    for n in sizes.watchers:
        w = f"watch-{n}"
        rows += [
            Metric(w, "delivery p50 ms", ("from_call_ms", "p50"), "lower", "{:.1f}"),
            Metric(w, "delivery p99 ms", ("from_call_ms", "p99"), "lower", "{:.1f}"),
            Metric(w, "delivery max ms", ("from_call_ms", "max"), "lower", "{:.1f}"),
            Metric(w, "server KiB per watcher", ("kib_per_watcher",), "lower", "{:.1f}"),
            Metric(w, "server CPU us/delivery", ("server_cpu_us_per_delivery",), "lower", "{:.0f}"),
            Metric(w, "PostgreSQL CPU us/delivery", ("store_cpu_us_per_delivery",), "", "{:.0f}"),
        ]
        if workers > 1:
            rows += [
                Metric(
                    w, "cross-worker adds p50 ms", ("cross_added_ms", "p50"), "", "{:+.1f}", True
                ),
                Metric(
                    w, "cross-worker adds p99 ms", ("cross_added_ms", "p99"), "", "{:+.1f}", True
                ),
            ]
    rows += [
        Metric("sdk", "get() ns/call", ("get_sync_ns",), "", "{:.0f}"),
        Metric("sdk", "async get() ns/call", ("get_async_ns",), "", "{:.0f}"),
        Metric("sdk", "commit-to-visible p50 ms", ("call_p50_ms",), ""),
        Metric("sdk", "commit-to-visible p99 ms", ("call_p99_ms",), ""),
    ]
    return rows


TITLES = {
    "put-seq": "put, 1 in flight",
    "put-64": "put, 64 in flight",
    "get-64": "get, 64 in flight",
    "sdk": "SDK (configd only)",
}


def title(workload: str) -> str:
    if workload.startswith("watch-"):
        return f"watch, {int(workload.split('-')[1]):,} watchers"
    return TITLES[workload]


def median(rows: Sequence[dict[str, Any]], path: Sequence[str]) -> float | None:
    values = []
    for row in rows:
        value: Any = row
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float) and value == value:  # not NaN
            values.append(float(value))
    return statistics.median(values) if values else None


HEADERS = {"configd": "sqlite", "configd-pg": "postgresql", "floor": "bare call", "etcd": "etcd"}
# Ratios shown when both systems ran: (numerator, denominator, column header).
RATIOS = (
    ("configd", "etcd", "sqlite/etcd"),
    ("configd-pg", "configd", "pg/sqlite"),
    ("configd", "floor", "sqlite/bare"),
    ("floor", "etcd", "bare/etcd"),
)


def table(
    results: Results, sizes: Sizes, systems: Sequence[str], etcd_missing: str, workers: int = 1
) -> tuple[list[str], list[dict[str, Any]]]:
    """The printed lines and the summary records (medians, ratios): a column per system that
    ran (configd on SQLite, on PostgreSQL, etcd), and the ratios of RATIOS."""
    columns = [s for s in SYSTEMS if s in systems]
    ratios = [r for r in RATIOS if r[0] in systems and r[1] in systems]
    head = (
        f"{'workload':<24}{'metric':<28}"
        + "".join(f"{HEADERS[s]:>12}" for s in columns)
        + "".join(f"{r[2]:>13}" for r in ratios)
    )
    lines = [head, "-" * len(head)]
    summary: list[dict[str, Any]] = []
    shown: str | None = None
    shown_metrics = metrics(sizes, workers)
    for metric in shown_metrics:
        have = {s: results.of(metric.workload, s) for s in columns}
        if not any(have.values()):
            continue
        values = {s: median(rows, metric.path) for s, rows in have.items()}
        if all(v is None for v in values.values()):
            continue  # e.g. PostgreSQL CPU when only SQLite ran
        cells = []
        for system in columns:
            v = values.get(system)
            if (system == "floor" and metric.workload not in KV_WORKLOADS) or (
                system == "etcd" and (metric.workload == "sdk" or metric.configd_only)
            ):
                cells.append("n/a")
            else:
                cells.append("-" if v is None else metric.fmt.format(v))
        record: dict[str, Any] = {
            "workload": metric.workload,
            "metric": metric.label,
            **{s: values.get(s) for s in columns},
            "rounds": {s: len(rows) for s, rows in have.items()},
        }
        ratio_cells = []
        for top, bottom, label in ratios:
            a, b = values.get(top), values.get(bottom)
            if a is not None and b is not None and metric.better and a > 0 and b > 0:
                ratio_cells.append(f"{a / b:.2f}x")
                record[label] = a / b
            else:
                ratio_cells.append("")
        summary.append(record)
        name = title(metric.workload) if metric.workload != shown else ""
        shown = metric.workload
        lines.append(
            f"{name:<24}{metric.label:<28}"
            + "".join(f"{c:>12}" for c in cells)
            + "".join(f"{c:>13}" for c in ratio_cells)
        )
        if metric.label == [m.label for m in shown_metrics if m.workload == metric.workload][-1]:
            lines.append(cpu_line(results, metric.workload, columns))
    if "etcd" in systems and etcd_missing:
        lines.append(f"etcd: {etcd_missing}")
    return lines, summary


def cpu_line(results: Results, workload: str, systems: Sequence[str]) -> str:
    """CPU seconds of server and clients against wall time (medians), per system."""
    if workload == "sdk":
        return ""
    parts = []
    for system in systems:
        rows = results.of(workload, system)
        wall_key = "elapsed_s" if workload in KV_WORKLOADS else "write_phase_wall_s"
        server, client, wall = (
            median(rows, (k,)) for k in ("server_cpu_s", "client_cpu_s", wall_key)
        )
        if server is None or client is None or wall is None:
            continue
        store = median(rows, ("store_cpu_s",))
        postgres = "" if store is None else f" PostgreSQL {store:.1f}s"
        parts.append(
            f"{HEADERS[system]} server {server:.1f}s{_shares(rows)}{postgres} clients "
            f"{client:.1f}s in {wall:.1f}s"
        )
    return f"{'':<24}cpu: " + "; ".join(parts) if parts else ""


def _shares(rows: Sequence[dict[str, Any]]) -> str:
    """ " (workers 0.6 + 0.5)": the median of each server process's CPU seconds, largest
    first, when the server ran as several processes."""
    shares = [sorted(r.get("server_cpu_s_by_process", {}).values(), reverse=True) for r in rows]
    widths = {len(s) for s in shares}
    if not shares or len(widths) != 1 or widths.pop() < 2:
        return ""
    medians = [statistics.median(s[i] for s in shares) for i in range(len(shares[0]))]
    return " (workers " + " + ".join(f"{m:.1f}" for m in medians) + ")"


# -- main ---------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]),
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads, comma-separated")
    parser.add_argument(
        "--systems",
        default="configd,etcd",
        help="configd, etcd and/or floor, comma-separated: floor is a bare grpc.aio server "
        "answering configd's Get and Put with canned replies (put/get workloads only), the "
        "RPC's own cost measured in the same run",
    )
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 3; --quick 1)")
    parser.add_argument("--output", type=Path, help="JSON-lines file (default bench/results/)")
    parser.add_argument(
        "--watch-client",
        choices=CLIENT_KINDS,
        default="python",
        help="watcher processes for both systems: python (grpc.aio) or node "
        "(bench/watch_client.mjs, Node's built-in HTTP/2: far less client CPU)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run configd as `configd serve --workers N` (default 1: one process)",
    )
    parser.add_argument(
        "--store",
        default="sqlite",
        help="configd's store, or several comma-separated, measured in turn within each round: "
        "sqlite (a data directory, the default) and/or postgresql (a throwaway PostgreSQL "
        "cluster started for the run; configd serve --store DSN)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="with --store postgresql: configd processes on the one database, the put/get "
        "load spread over them; watchers on the last, writes on the first (default 1)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=540.0,
        help="seconds; no new measurement starts after this (default 540)",
    )
    options = parser.parse_args(argv)
    options.only = [w.strip() for w in options.only.split(",") if w.strip()]
    options.systems = [s.strip() for s in options.systems.split(",") if s.strip()]
    options.store = [s.strip() for s in options.store.split(",") if s.strip()]
    for store in options.store:
        if store not in STORES:
            parser.error(f"unknown --store {store!r}; choose from {', '.join(STORES)}")
    if options.replicas < 1:
        parser.error("--replicas must be at least 1")
    if options.replicas > 1 and "postgresql" not in options.store:
        parser.error("--replicas needs --store postgresql (replicas share its database)")
    if options.workers > 1 and "postgresql" in options.store:
        parser.error("--workers is for --store sqlite; on PostgreSQL use --replicas")
    for workload in options.only:
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    for system in options.systems:
        if system not in ("configd", "etcd", "floor"):
            parser.error(f"unknown system {system!r}; choose from configd, etcd, floor")
    if "configd" in options.systems:  # configd once per store
        configd = [STORE_SYSTEM[store] for store in options.store]
        options.systems = [
            *(s for s in SYSTEMS if s in configd),
            *(s for s in ("floor", "etcd") if s in options.systems),
        ]
    if options.rounds is None:
        options.rounds = 1 if options.quick else 3
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    if options.workers < 1:
        parser.error("--workers must be at least 1")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    sizes = QUICK if options.quick else FULL
    run_id = time.strftime("%Y%m%d-%H%M%S")
    results = Results(options.output or RESULTS_DIR / f"{run_id}.jsonl", run_id)
    budget = Budget(options.time_limit)

    etcd_binary: str | None = None
    etcd_version = etcd_missing = ""
    if "etcd" in options.systems and set(options.only) - {"sdk"}:
        etcd_binary, detail = etcd_status()
        if etcd_binary is None:
            etcd_missing = f"not available ({detail})"
            print(f"etcd: {etcd_missing}", file=sys.stderr)
        else:
            etcd_version = detail
    # Quiet logs, as for etcd (configd.testing.ConfigdProcess also turns auth off).
    serve_args = ["--log-level", "warning"]
    import put_bench

    meta = results.write(
        "meta",
        machine=machine(),
        options={k: str(v) for k, v in vars(options).items()},
        sizes=asdict(sizes),
        configd_serve_args=serve_args,
        etcd={"binary": etcd_binary, "version": etcd_version, "missing": etcd_missing},
        value_bytes=put_bench.VALUE_BYTES,
    )
    print(f"writing {results.path}", file=sys.stderr)

    kv = [w for w in options.only if w in KV_WORKLOADS]
    sdk = "sdk" in options.only and "configd" in options.systems
    if kv or sdk:
        # One deployment per store for the put/get workloads, then the SDK's (its own
        # namespace, on SQLite).
        with ExitStack() as stack:
            deployments = {
                STORE_SYSTEM[store]: stack.enter_context(
                    Deployment(
                        store,
                        replicas=options.replicas if store == "postgresql" else 1,
                        serve_args=serve_args,
                        workers=options.workers,
                    )
                )
                for store in options.store
                if STORE_SYSTEM[store] in options.systems
            }
            if kv:
                kv_phase(
                    results,
                    kv,
                    deployments,
                    etcd_binary,
                    sizes,
                    options.rounds,
                    budget,
                    options.workers,
                    floor="floor" in options.systems,
                )
            if sdk:
                sdk_phase(results, deployments["configd"].servers[0], sizes, options.rounds, budget)
    if "watch" in options.only:
        watch_phase(
            results,
            options.systems,
            etcd_binary,
            sizes,
            options.rounds,
            budget,
            serve_args,
            options.watch_client,
            options.workers,
            options.replicas,
        )

    lines, summary = table(results, sizes, options.systems, etcd_missing, options.workers)
    for record in summary:
        results.write("summary", **record)
    elapsed = time.monotonic() - budget.began
    load_end = os.getloadavg()
    results.write("end", seconds=elapsed, skipped=budget.skipped, loadavg=load_end)

    m = meta["machine"]
    etcd_desc = (
        f"etcd {etcd_version} (single member, defaults: WAL fsync before a write is answered; "
        "gets linearizable)"
        if etcd_binary
        else f"etcd: {etcd_missing or 'not requested'}"
    )
    print()
    workers = (
        f"configd serve --workers {options.workers} (the figures sum its {options.workers} "
        "worker processes)"
        if options.workers > 1
        else "configd (one process)"
    )
    print(
        f"{workers} (durable: SQLite synchronous=FULL; every write validated against a JSON "
        "Schema) vs " + etcd_desc
    )
    if "configd-pg" in options.systems:
        r = options.replicas
        print(
            f"postgresql: {r} configd process{'es' if r > 1 else ''} (serve --store DSN) on a "
            f"throwaway PostgreSQL {bin_dir().parent.name} cluster (fsync=on, "
            "synchronous_commit=on) on this machine"
            + (
                "; put/get client processes spread over the replicas; watchers on the last "
                "replica, writes on the first (cross-replica delivery)"
                if r > 1
                else ""
            )
            + "; 'PostgreSQL CPU' is its postmaster's and backends' CPU, apart from configd's"
        )
    print(
        f"put/get values {put_bench.VALUE_BYTES} B of JSON; watch writes "
        '{"round": N}; loopback; auth off; client load in separate processes'
    )
    print(
        f"{m['cpus']} cores ({m['cpu_model']}), 1-min load average {m['loadavg'][0]:.1f} at "
        f"start, {load_end[0]:.1f} at end; medians of {options.rounds} round(s); "
        f"watch delivery = receipt minus the moment before the Put call, "
        f"{options.watch_client} watchers; "
        f"{elapsed:.0f} s in all"
    )
    print()
    for line in lines:
        if line:
            print(line.rstrip())
    n = options.workers
    print(
        f"server CPU us/op: the server's CPU time over a workload per call answered (watch: per "
        f"delivery). ceiling ops/s, {n} core{'s' if n > 1 else ''}: {n} / (CPU per op), the "
        f"throughput {n} server core{'s' if n > 1 else ''} would sustain if CPU were the only "
        "limit and the load spread evenly over the workers (a worker is one Python event loop: "
        "about one core); puts also wait on the one SQLite write lock and fsync, not modelled"
    )
    if "configd-pg" in options.systems:
        r = options.replicas
        print(
            f"postgresql column: the ceiling counts one core per replica ({r}), and leaves out "
            "the PostgreSQL CPU (its own row); puts there serialise on the head row's lock"
        )
    errors = len(results.errors)
    if errors:
        print(f"\n{errors} measurement(s) failed; see kind=error records in {results.path}")
    if budget.skipped:
        print(f"time limit {options.time_limit:.0f}s reached; skipped: {', '.join(budget.skipped)}")
    print(f"raw results: {results.path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
