"""Watch fan-out: delivery latency to N watchers, and server memory per watcher.

    .venv/bin/python bench/watch_bench.py [--watchers 1000,5000,10000] [--runs 3]
        [--rounds 10] [--interval 1.0] [--client python|node] [--procs 4] [--json]
        [--server-arg=--watch-buffer=64]

For each watcher count N and each run: a fresh `configd serve` (temp data dir) with one
namespace; N watch streams on that namespace, each on its OWN connection (a channel with a
local subchannel pool), held by --procs client processes (spawned, N/procs streams each, one
asyncio loop per process). Then --rounds puts, --interval seconds apart, from this process.

--client picks the watcher processes. "python" (the default): grpc.aio, as the SDK uses it.
"node": bench/watch_client.mjs, raw gRPC over Node's built-in HTTP/2 (nghttp2, no npm
packages), which spends under a third of the CPU per delivery that grpc.aio does. On a 2-core
machine the watchers share the cores with the server, so with Python watchers their CPU, not
the server's, sets much of the latency; the Node watchers measure the server more closely.
Both keep one connection per watcher and read the same messages.

Latency of one delivery is the watcher's receipt time minus a write time, all on
CLOCK_REALTIME (time.time_ns; one clock for every process on the machine), measured three ways:
  * "commit": receipt - the change set's own `time`, which the server stamps when it plans the
    batch, just before writing and fsyncing it. The commit completes a little later (the
    fsync), so this slightly OVERestimates commit-to-receipt; it is the headline figure.
  * "ack": receipt - the moment Put returned to the writer. The commit is before the ack, so
    this UNDERestimates; it can even be negative, because the server publishes a batch to the
    watchers before it answers the writer, so under fan-out load the ack waits in the same
    event loop as the deliveries.
  * "call": receipt - the moment just before Put was called. This OVERestimates (it adds the
    request's trip and queueing in front of the commit).
Percentiles pool every delivery of a run (N x rounds samples); the summary gives medians
across runs. Writes are --interval apart, so a fan-out slower than that overlaps the next.

Memory: the server's RSS (/proc/PID/status VmRSS) once the namespace exists, and again once
all N streams have received their first message (a snapshot), divided by N.

CPU: user+system seconds of the server and of all client processes during the write phase
(from /proc), against its wall time. The machine these targets are for has 2 cores: when the
clients' CPU is high, they (not the server) may be what delays receipt.

Raw results go to bench/results/watch_bench-*.jsonl (gitignored), or to stdout with --json.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    WATCHER_CHANNEL_OPTIONS,
    JsonLines,
    cpu_seconds,
    median_of,
    open_fds,
    raise_open_files,
    rss_kib,
    summarize,
)
from _watchers import CLIENT_KINDS, ClientReport, NodeClients, PythonClients, WatcherProcess

from configd.testing import ConfigdProcess

NAMESPACE = "bench/watch"
WATCH_METHOD = "/configd.v1.ConfigService/Watch"
OPEN_BATCH = 250  # streams opened concurrently per client process


# -- client processes ---------------------------------------------------------------------------


def client_main(conn: Connection, addr: str, count: int, first: int) -> None:
    """Entry point of a client process: holds `count` watch streams until told to stop."""
    raise_open_files(count + 256)
    asyncio.run(_client(conn, addr, count, first))


async def _client(conn: Connection, addr: str, count: int, first: int) -> None:
    import grpc
    import grpc.aio

    from configd_client.wire import config_pb2 as pb

    loop = asyncio.get_running_loop()
    request = pb.WatchRequest(namespaces=[NAMESPACE], send_snapshot=True).SerializeToString()
    receipts: dict[int, array.array[int]] = {}
    stamps: dict[int, int] = {}
    last_seen = [0] * count
    ready = 0
    all_ready = asyncio.Event()
    target = [0]  # the last revision once the writer is done
    complete = 0
    all_complete = asyncio.Event()
    errors: list[str] = []
    channels: list[Any] = []
    calls: list[Any] = []

    batch_end = 0
    batch_ready = asyncio.Event()

    def settle() -> None:
        nonlocal ready
        ready += 1
        if ready >= batch_end:
            batch_ready.set()
        if ready == count:
            all_ready.set()

    async def watch(index: int) -> None:
        nonlocal complete
        channel = grpc.aio.insecure_channel(addr, options=WATCHER_CHANNEL_OPTIONS)
        channels.append(channel)
        # Raw bytes (no deserializer): the receipt time is taken before any parsing.
        call = channel.unary_stream(WATCH_METHOD)(request)
        calls.append(call)
        got_snapshot = False
        try:
            while True:
                raw = await call.read()
                received = time.time_ns()
                if raw is grpc.aio.EOF:
                    errors.append(f"watcher {first + index}: stream ended")
                    break
                message = pb.WatchResponse.FromString(raw)
                kind = message.WhichOneof("event")
                if kind == "snapshot" and not got_snapshot:
                    got_snapshot = True
                    last_seen[index] = message.snapshot.revision
                    settle()
                elif kind == "change_set":
                    revision = message.change_set.revision
                    bucket = receipts.get(revision)
                    if bucket is None:
                        bucket = receipts[revision] = array.array("q")
                        stamps[revision] = message.change_set.time.ToNanoseconds()
                    bucket.append(received)
                    last_seen[index] = revision
                    if target[0] and revision >= target[0]:
                        complete += 1
                        if complete == count:
                            all_complete.set()
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.CANCELLED:
                errors.append(f"watcher {first + index}: {exc.code().name} {exc.details()}")
            if not got_snapshot:
                settle()

    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for batch_start in range(0, count, OPEN_BATCH):
        batch_end = min(count, batch_start + OPEN_BATCH)
        tasks.extend(asyncio.create_task(watch(i)) for i in range(batch_start, batch_end))
        # Pace the connects: wait until this batch's streams have their snapshot.
        if ready < batch_end:
            batch_ready.clear()
            await batch_ready.wait()
    await all_ready.wait()
    failed = sum(1 for e in errors if "stream ended" not in e)
    conn.send(("ready", time.monotonic() - started, failed))

    command, last_revision, deadline = await loop.run_in_executor(None, conn.recv)
    assert command == "finish"
    target[0] = last_revision
    complete = sum(1 for seen in last_seen if seen >= last_revision)
    if complete < count:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_complete.wait(), max(0.1, deadline - time.monotonic()))
    report = ClientReport(
        failed=failed,
        open_seconds=time.monotonic() - started,
        receipts={rev: times.tobytes() for rev, times in receipts.items()},
        stamps=stamps,
        complete=sum(1 for seen in last_seen if seen >= last_revision),
        errors=errors[:20],
    )
    conn.send(report)
    for call in calls:
        call.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    conn.recv()  # "exit": keep our CPU-time counters readable until the parent is done


# -- one run ------------------------------------------------------------------------------------


@dataclass
class Write:
    revision: int
    before_call: int  # time.time_ns
    acked: int


def ms(ns: float) -> float:
    return ns / 1e6


def run_once(
    watchers: int,
    procs: int,
    rounds: int,
    interval: float,
    server_args: Sequence[str],
    profile: Path | None = None,
    profile_args: Sequence[str] = ("--nonblocking",),
    client: str = "python",
) -> dict[str, Any]:
    """One fresh server, `watchers` streams, `rounds` writes. With `profile`, py-spy samples
    the server during the write phase and writes collapsed stacks there."""
    import grpc

    from configd_client.wire import admin_pb2, admin_pb2_grpc
    from configd_client.wire import config_pb2 as pb
    from configd_client.wire import config_pb2_grpc as pb_grpc

    raise_open_files(watchers + 4096)
    # No progress messages during the run: every message a watcher gets is measured.
    args = ["--watch-progress-interval", "3600", *server_args]
    with ConfigdProcess(None, *args) as server:
        channel = grpc.insecure_channel(server.grpc_addr)
        stub: Any = pb_grpc.ConfigServiceStub(channel)
        admin: Any = admin_pb2_grpc.AdminServiceStub(channel)
        stub.CreateNamespace(pb.CreateNamespaceRequest(name=NAMESPACE))
        stub.Put(pb.PutRequest(namespace=NAMESPACE, key="value", value_json='{"round": 0}'))
        time.sleep(0.5)
        rss_before = rss_kib(server.pid)
        fds_before = open_fds(server.pid)

        clients: list[WatcherProcess] = []
        share, extra = divmod(watchers, procs)
        first = 0
        for p in range(procs):
            count = share + (1 if p < extra else 0)
            if not count:
                continue
            if client == "node":
                request = pb.WatchRequest(namespaces=[NAMESPACE], send_snapshot=True)
                clients.append(NodeClients(server.grpc_addr, count, first, "configd", request))
            else:
                clients.append(PythonClients(client_main, server.grpc_addr, count, first))
            first += count
        try:
            open_started = time.monotonic()
            failed = sum(c.wait_ready(600) for c in clients)
            open_seconds = time.monotonic() - open_started
            time.sleep(1.0)  # let the server settle before reading its memory
            status = admin.GetStatus(admin_pb2.GetStatusRequest())
            rss_after_open = rss_kib(server.pid)
            fds_after = open_fds(server.pid)

            spy = None
            if profile is not None:
                spy = subprocess.Popen(
                    [
                        os.environ.get("PY_SPY", "py-spy"),
                        "record",
                        "--pid",
                        str(server.pid),
                        "--rate",
                        "200",
                        *profile_args,
                        "--format",
                        "raw",
                        "--output",
                        str(profile),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)  # py-spy attaches
            server_cpu0 = cpu_seconds(server.pid)
            client_cpu0 = sum(cpu_seconds(c.pid) for c in clients)
            wall0 = time.monotonic()
            writes: list[Write] = []
            for round_ in range(1, rounds + 1):
                before = time.time_ns()
                response = stub.Put(
                    pb.PutRequest(
                        namespace=NAMESPACE, key="value", value_json=f'{{"round": {round_}}}'
                    )
                )
                acked = time.time_ns()
                writes.append(Write(int(response.revision), before, acked))
                time.sleep(max(0.0, interval - (acked - before) / 1e9))
            last = writes[-1].revision
            deadline = time.monotonic() + max(10.0, interval * 5)
            for c in clients:
                c.finish(last, deadline)
            reports = [c.report(deadline - time.monotonic() + 60) for c in clients]
            wall = time.monotonic() - wall0
            server_cpu = cpu_seconds(server.pid) - server_cpu0
            client_cpu = sum(cpu_seconds(c.pid) for c in clients) - client_cpu0
            rss_after_writes = rss_kib(server.pid)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(60)
        finally:
            for c in clients:
                c.close()
            channel.close()

    from_stamp: list[float] = []
    from_ack: list[float] = []
    from_call: list[float] = []
    per_round: list[dict[str, Any]] = []
    delivered = 0
    for write in writes:
        times: array.array[int] = array.array("q")
        for report in reports:
            raw = report.receipts.get(write.revision)
            if raw:
                times.frombytes(raw)
        delivered += len(times)
        stamp = next((r.stamps[write.revision] for r in reports if write.revision in r.stamps), 0)
        commit = [ms(t - stamp) for t in times]
        ack = [ms(t - write.acked) for t in times]
        call = [ms(t - write.before_call) for t in times]
        from_stamp.extend(commit)
        from_ack.extend(ack)
        from_call.extend(call)
        per_round.append(
            {
                "revision": write.revision,
                "put_ms": ms(write.acked - write.before_call),
                "stamp_after_call_ms": ms(stamp - write.before_call),
                "from_stamp_ms": summarize(commit),
                "delivered": len(times),
                "from_ack_ms": summarize(ack),
                "from_call_ms": summarize(call),
            }
        )
    return {
        "watchers": watchers,
        "client": client,
        "procs": procs,
        "rounds": rounds,
        "interval_s": interval,
        "server_args": list(server_args),
        "open_seconds": open_seconds,
        "open_failed": failed,
        "server_watcher_count": int(status.watcher_count),
        "server_fds_opened": fds_after - fds_before,
        "rss_before_kib": rss_before,
        "rss_after_open_kib": rss_after_open,
        "rss_after_writes_kib": rss_after_writes,
        "kib_per_watcher": (rss_after_open - rss_before) / watchers,
        "kib_per_watcher_after_writes": (rss_after_writes - rss_before) / watchers,
        "expected_deliveries": watchers * rounds,
        "delivered": delivered,
        "complete_watchers": sum(r.complete for r in reports),
        "client_errors": [e for r in reports for e in r.errors][:20],
        "from_stamp_ms": summarize(from_stamp),
        "from_ack_ms": summarize(from_ack),
        "from_call_ms": summarize(from_call),
        "p99_from_stamp_ms_median_of_rounds": statistics.median(
            r["from_stamp_ms"].get("p99", float("nan")) for r in per_round
        ),
        "put_ms": summarize(r["put_ms"] for r in per_round),
        "write_phase_wall_s": wall,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "per_round": per_round,
    }


# -- main ---------------------------------------------------------------------------------------

TARGETS_P99_MS = {1_000: 100.0, 5_000: 400.0, 10_000: 1_000.0}
TARGET_KIB_PER_WATCHER = 40.0


def _triple(stats: dict[str, float]) -> str:
    return f"{stats['p50']:7.1f} {stats['p99']:7.1f} {stats['max']:7.1f}"


def describe(row: dict[str, Any]) -> str:
    if not row["from_stamp_ms"].get("count"):
        return f"N={row['watchers']}: nothing delivered"
    return (
        f"N={row['watchers']:>6} p50/p99/max ms: commit {_triple(row['from_stamp_ms'])} | "
        f"ack {_triple(row['from_ack_ms'])} | call {_triple(row['from_call_ms'])} | "
        f"put p50 {row['put_ms']['p50']:.1f} | {row['kib_per_watcher']:5.1f} KiB/watcher | "
        f"delivered {row['delivered']}/{row['expected_deliveries']} | cpu server "
        f"{row['server_cpu_s']:.1f}s clients {row['client_cpu_s']:.1f}s in "
        f"{row['write_phase_wall_s']:.1f}s | open {row['open_seconds']:.1f}s"
    )


def _medians(rows: Sequence[dict[str, Any]], name: str) -> str:
    return " ".join(f"{median_of(rows, name, q):7.1f}" for q in ("p50", "p99", "max"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", default="1000,5000,10000", help="comma-separated counts")
    parser.add_argument("--runs", type=int, default=3, help="fresh server runs per count")
    parser.add_argument("--rounds", type=int, default=10, help="writes per run")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between writes")
    parser.add_argument(
        "--client",
        choices=CLIENT_KINDS,
        default="python",
        help="watcher processes: python (grpc.aio, as the SDK) or node (bench/watch_client.mjs, "
        "Node's built-in HTTP/2: far less client CPU on the same 2 cores)",
    )
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra `configd serve` argument"
    )
    parser.add_argument("--json", action="store_true", help="raw results to stdout")
    parser.add_argument(
        "--profile",
        type=Path,
        help="directory for py-spy profiles of the server's write phase (set PY_SPY to the "
        "py-spy binary if it is not on PATH)",
    )
    parser.add_argument(
        "--profile-args",
        default="--nonblocking",
        help="extra py-spy record arguments (e.g. '--native', which needs blocking mode)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=1800.0, help="stop starting runs after this"
    )
    options = parser.parse_args(argv)
    counts = [int(c) for c in options.watchers.split(",") if c]
    out = JsonLines("watch_bench", sys.stdout if options.json else None)
    log = sys.stderr if options.json else sys.stdout
    began = time.monotonic()
    rows: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    stopped_early = False
    for run in range(options.runs):
        for watchers in counts:
            if time.monotonic() - began > options.time_limit:
                stopped_early = True
                break
            profile = None
            if options.profile is not None:
                options.profile.mkdir(parents=True, exist_ok=True)
                profile = options.profile / f"server-{watchers}-run{run}.txt"
            row = run_once(
                watchers,
                options.procs,
                options.rounds,
                options.interval,
                options.server_arg,
                profile,
                options.profile_args.split(),
                options.client,
            )
            row["run"] = run
            out.write(row)
            rows[watchers].append(row)
            print(describe(row), file=log, flush=True)
    print(
        f"\nmedians over runs ({options.rounds} writes {options.interval}s apart per run, "
        f"{options.procs} {options.client} client processes); latency p50/p99/max in ms:",
        file=log,
    )
    for watchers, done in rows.items():
        if not done:
            continue
        target = TARGETS_P99_MS.get(watchers)
        goal = "" if target is None else f" (target p99 <= {target:.0f})"
        print(
            f"N={watchers:>6} runs={len(done)}: commit {_medians(done, 'from_stamp_ms')}{goal}"
            f" | ack {_medians(done, 'from_ack_ms')} | call {_medians(done, 'from_call_ms')}"
            f" | {median_of(done, 'kib_per_watcher'):.1f} KiB/watcher (target <= "
            f"{TARGET_KIB_PER_WATCHER:.0f}) | cpu server {median_of(done, 'server_cpu_s'):.1f}s"
            f" clients {median_of(done, 'client_cpu_s'):.1f}s in "
            f"{median_of(done, 'write_phase_wall_s'):.1f}s",
            file=log,
        )
    if stopped_early:
        print(f"stopped early: --time-limit {options.time_limit}s reached", file=log)
    if out.path is not None:
        print(f"raw results: {out.path}", file=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
