"""Watch fan-out: delivery latency to N watchers, and server memory per watcher.

    .venv/bin/python bench/watch_bench.py [--watchers 1000,5000,10000] [--runs 3]
        [--rounds 10] [--interval 1.0] [--client python|node] [--procs 4] [--json]
        [--workers 1] [--streams-per-connection 1] [--server-arg=--watch-buffer=64]

    # cross-worker delivery: watchers on both workers, each write to one of them in turn
    .venv/bin/python bench/watch_bench.py --workers 2 --client node --watchers 2000
    # 20,000 watchers: two workers hold 10,000 connections each, under a 20,000-fd limit
    .venv/bin/python bench/watch_bench.py --workers 2 --client node --watchers 20000 \
        --procs 4 --rounds 5 --interval 3
    # cross-replica delivery on PostgreSQL: watchers on replica B, every write to replica A
    .venv/bin/python bench/watch_bench.py --store postgresql --replicas 2 --watchers 1000

For each watcher count N and each run: a fresh `configd serve` (temp data dir) with one
namespace; N watch streams on that namespace, each on its OWN connection (a channel with a
local subchannel pool; --streams-per-connection K puts K streams on each), held by --procs
client processes (spawned, N/procs streams each, one asyncio loop per process). Then --rounds
puts, --interval seconds apart, from this process.

--store postgresql starts a throwaway PostgreSQL cluster (configd.testing_postgres) and runs
--replicas configd processes on it (`configd serve --store DSN`): the watchers hold their
streams on the last replica, this process sends every write to the first, so with 2 replicas
each delivery crosses replicas (commit, NOTIFY, the other replica's log read and apply). The
PostgreSQL processes' CPU is reported apart (store_cpu_s).

--workers N runs `configd serve --workers N`: the kernel spreads the watchers' connections over
the N workers (SO_REUSEPORT hashing), this process holds one connection on each worker and
sends each write to the next worker in turn; memory and CPU are summed over the workers. With
Node watchers the benchmark finds each stream's worker in /proc (the worker holding its
connection's server end) and splits the deliveries of every write by path: "same worker" (the
stream's worker took the write and published it) and "other worker" (it applied the write from
the revision log: doorbell, log read, apply), and prints what the cross-worker path adds at
p50 and p99, from the same writes under the same load.

Opening is watched: progress is printed every 10 s, and a run in which no stream opens or fails
for --open-stall seconds is given up and says which limit stopped it: a server process or a
client process at its open-file limit (RLIMIT_NOFILE; each connection is one fd on each side),
EMFILE errors, streams refused by a server limit (RESOURCE_EXHAUSTED, e.g. --max-watchers), or
else how many streams were established. The limits in force are printed before the figures.

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
import functools
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    WATCHER_CHANNEL_OPTIONS,
    JsonLines,
    channels_per_worker,
    connection_owners,
    cpu_seconds,
    median_of,
    open_fds,
    open_files_limit,
    raise_open_files,
    rss_kib,
    server_processes,
    summarize,
    wait_applied,
)
from _stores import STORES, Deployment, cpu_since
from _watchers import (
    CLIENT_KINDS,
    ClientReport,
    NodeClients,
    OpenProgress,
    PythonClients,
    WatcherProcess,
)

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess

NAMESPACE = "bench/watch"
WATCH_METHOD = "/configd.v1.ConfigService/Watch"
OPEN_BATCH = 250  # streams opened concurrently per client process


# -- client processes ---------------------------------------------------------------------------


def client_main(
    conn: Connection, addr: str, count: int, first: int, per_connection: int = 1
) -> None:
    """Entry point of a client process: holds `count` watch streams until told to stop,
    `per_connection` of them on each connection."""
    raise_open_files(count + 256)
    asyncio.run(_client(conn, addr, count, first, per_connection))


async def _client(conn: Connection, addr: str, count: int, first: int, per_connection: int) -> None:
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
    channels: dict[int, Any] = {}
    calls: list[Any] = []
    failed_streams = 0

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
        nonlocal complete, failed_streams
        slot = index // per_connection
        channel = channels.get(slot)
        if channel is None:  # streams of one channel share its connection
            channel = channels[slot] = grpc.aio.insecure_channel(
                addr, options=WATCHER_CHANNEL_OPTIONS
            )
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
        if not got_snapshot:  # refused, reset, or ended before its snapshot
            failed_streams += 1
            settle()

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            conn.send(("progress", ready - failed_streams, failed_streams, errors[:5]))

    progress = asyncio.create_task(report_progress())
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
    progress.cancel()
    failed = failed_streams
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
    for channel in channels.values():
        await channel.close()
    conn.recv()  # "exit": keep our CPU-time counters readable until the parent is done


# -- one run ------------------------------------------------------------------------------------


@dataclass
class Write:
    revision: int
    before_call: int  # time.time_ns
    acked: int
    worker: int  # pid of the server process the Put went to


def ms(ns: float) -> float:
    return ns / 1e6


OPEN_STALL_SECONDS = 30.0  # default --open-stall
OPEN_TIME_LIMIT = 900.0
SERVER_SETTINGS = {
    # configd's own limits a watch run can meet, and the value this benchmark runs with
    "--max-watchers": "100000 per server process (the default; far above any run here)",
    "--max-watchers-per-token": "not applied: auth is off (--no-auth)",
    "--watch-progress-interval": "3600 s, so that every message a watcher gets is measured",
}


def open_streams(
    clients: Sequence[WatcherProcess], watchers: int, log: IO[str], stall: float
) -> OpenState:
    """Waits until every client process has opened its streams; stops when none opens or
    fails a stream for `stall` seconds (or after OPEN_TIME_LIMIT), printing progress."""
    started = last_change = last_print = time.monotonic()
    progress = [c.wait_open(0.0) for c in clients]
    settled = 0
    while not all(p.done for p in progress):
        progress = [
            c.wait_open(0.0 if p.done else 0.2) for c, p in zip(clients, progress, strict=True)
        ]
        now = time.monotonic()
        count = sum(p.ready + p.failed for p in progress)
        if count != settled:
            settled, last_change = count, now
        if now - last_print >= 10:
            print(
                f"  opening: {sum(p.ready for p in progress)}/{watchers} streams ready, "
                f"{sum(p.failed for p in progress)} failed, {now - started:.0f} s",
                file=log,
                flush=True,
            )
            last_print = now
        if now - last_change > stall or now - started > OPEN_TIME_LIMIT:
            break
    return OpenState(progress, time.monotonic() - started, stall)


@dataclass
class OpenState:
    progress: list[OpenProgress]
    seconds: float
    stall: float  # seconds without progress after which opening was given up

    @property
    def done(self) -> bool:
        return all(p.done for p in self.progress)

    @property
    def ready(self) -> int:
        return sum(p.ready for p in self.progress)

    @property
    def failed(self) -> int:
        return sum(p.failed for p in self.progress)

    @property
    def errors(self) -> list[str]:
        return [e for p in self.progress for e in p.errors][:20]


def limits_hit(
    opened: OpenState,
    watchers: int,
    server: ConfigdProcess,
    server_pids: Sequence[int],
    client_pids: Sequence[int],
) -> list[str]:
    """Plain sentences naming what stopped streams from opening (empty: nothing did)."""
    if opened.done and not opened.failed:
        return []
    found = []
    for pid in server_pids:
        with contextlib.suppress(OSError):  # a worker may have died
            fds, limit = open_fds(pid), open_files_limit(pid)
            if limit > 0 and fds >= limit - 64:
                found.append(
                    f"server process {pid} is at its open-file limit: {fds} of {limit} fds "
                    "(RLIMIT_NOFILE, `ulimit -n`); each watch connection costs the server one fd: "
                    "spread them over workers (--workers) or put several streams on each "
                    "connection (--streams-per-connection)"
                )
    if re.search("Too many open files|EMFILE", server.logs()):
        found.append("the server log reports EMFILE (too many open files) on accept")
    for pid in client_pids:
        with contextlib.suppress(OSError):
            fds, limit = open_fds(pid), open_files_limit(pid)
            if limit > 0 and fds >= limit - 64:
                found.append(
                    f"client process {pid} is at its open-file limit: {fds} of {limit} fds; "
                    "use more client processes (--procs) or --streams-per-connection"
                )
    if any("EMFILE" in e for e in opened.errors):
        found.append("a client process could not open a connection: EMFILE")
    refused = [e for e in opened.errors if "RESOURCE_EXHAUSTED" in e or "grpc-status 8" in e]
    if refused:
        found.append(f"the server refused streams by a limit: {refused[0]}")
    if not opened.done:
        found.append(
            f"opening stopped: {opened.ready} of {watchers} streams ready, {opened.failed} failed, "
            f"none more for {opened.stall:.0f} s (after {opened.seconds:.0f} s)"
        )
    elif opened.failed:
        found.append(f"{opened.failed} of {watchers} streams failed to open")
    if opened.errors:
        found.append(f"first client errors: {opened.errors[:3]}")
    return found


def run_once(
    watchers: int,
    procs: int,
    rounds: int,
    interval: float,
    server_args: Sequence[str],
    profile: Path | None = None,
    profile_args: Sequence[str] = ("--nonblocking",),
    client: str = "python",
    workers: int = 1,
    per_connection: int = 1,
    log: IO[str] = sys.stdout,
    open_stall: float = OPEN_STALL_SECONDS,
    store: str = "sqlite",
    replicas: int = 1,
) -> dict[str, Any]:
    """One fresh server (`workers` processes), `watchers` streams, `rounds` writes, each
    to the next serving process in turn. With `profile`, py-spy samples the (first) server
    process during the write phase and writes collapsed stacks there. On `store`
    "postgresql": `replicas` configd processes on a fresh PostgreSQL cluster, the watchers on
    the last one and every write to the first."""
    import grpc

    from configd_client.wire import admin_pb2, admin_pb2_grpc
    from configd_client.wire import config_pb2 as pb
    from configd_client.wire import config_pb2_grpc as pb_grpc

    raise_open_files(watchers + 4096)
    args = ["--watch-progress-interval", "3600", *server_args]
    row: dict[str, Any] = {
        "watchers": watchers,
        "client": client,
        "procs": procs,
        "workers": workers,
        "streams_per_connection": per_connection,
        "rounds": rounds,
        "interval_s": interval,
        "server_args": list(server_args),
        "store": store,
        "replicas": replicas,
    }
    with Deployment(store, replicas=replicas, serve_args=args, workers=workers) as deployment:
        server = deployment.servers[-1]  # the one the watchers connect to
        if store == "sqlite":
            server_pids = server_processes(server, workers)
            writers = channels_per_worker(server.grpc_addr, server_pids)
            replica_channels = list(writers.values())
        else:
            server_pids = [s.pid for s in deployment.servers]
            # Every write to the first replica; the watchers' replica applies it from the log.
            writers = {server_pids[0]: grpc.insecure_channel(deployment.addrs[0])}
            replica_channels = [grpc.insecure_channel(a) for a in deployment.addrs[1:]]
        order = list(writers)  # the serving processes, each write to the next one
        stub: Any = pb_grpc.ConfigServiceStub(writers[order[0]])
        stub.CreateNamespace(pb.CreateNamespaceRequest(name=NAMESPACE))
        put0 = stub.Put(pb.PutRequest(namespace=NAMESPACE, key="value", value_json='{"round": 0}'))
        # before the watchers come
        wait_applied([*writers.values(), *replica_channels], put0.revision)
        time.sleep(0.5)
        rss_before = sum(rss_kib(pid) for pid in server_pids)
        fds_before = sum(open_fds(pid) for pid in server_pids)

        clients: list[WatcherProcess] = []
        share, extra = divmod(watchers, procs)
        first = 0
        for p in range(procs):
            count = share + (1 if p < extra else 0)
            if not count:
                continue
            if client == "node":
                request = pb.WatchRequest(namespaces=[NAMESPACE], send_snapshot=True)
                clients.append(
                    NodeClients(server.grpc_addr, count, first, "configd", request, per_connection)
                )
            else:
                target = functools.partial(client_main, per_connection=per_connection)
                clients.append(PythonClients(target, server.grpc_addr, count, first))
            first += count
        try:
            opened = open_streams(clients, watchers, log, open_stall)
            row.update(
                open_seconds=opened.seconds,
                open_failed=opened.failed,
                opened=opened.ready,
                limits_hit=limits_hit(
                    opened, watchers, server, server_pids, [c.pid for c in clients]
                ),
            )
            if not opened.done:
                row["stopped_by"] = row["limits_hit"]
                return row
            time.sleep(1.0)  # let the server settle before reading its memory
            watcher_count = 0
            for channel in writers.values():
                admin: Any = admin_pb2_grpc.AdminServiceStub(channel)
                watcher_count += admin.GetStatus(admin_pb2.GetStatusRequest()).watcher_count
            rss_after_open = sum(rss_kib(pid) for pid in server_pids)
            fds_after = sum(open_fds(pid) for pid in server_pids)
            per_worker: dict[str, int] = {}
            if workers > 1 and client == "node":
                # Label every stream with the worker holding its connection: deliveries are
                # then split into the same-worker and the cross-worker path.
                owners = connection_owners(server.grpc_port, server_pids)
                for c, progress in zip(clients, opened.progress, strict=True):
                    labels = [str(owners.get(port, "?")) for port in progress.ports]
                    for label in labels:
                        per_worker[label] = per_worker.get(label, 0) + 1
                    c.set_groups(labels)

            spy = None
            if profile is not None:
                spy = subprocess.Popen(
                    [
                        os.environ.get("PY_SPY", "py-spy"),
                        "record",
                        "--pid",
                        str(server_pids[0]),
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
            server_cpu0 = {pid: cpu_seconds(pid) for pid in server_pids}
            store_cpu0 = deployment.store_cpu()
            client_cpu0 = sum(cpu_seconds(c.pid) for c in clients)
            wall0 = time.monotonic()
            writes: list[Write] = []
            for round_ in range(1, rounds + 1):
                worker = order[round_ % len(order)]
                put: Any = pb_grpc.ConfigServiceStub(writers[worker]).Put
                before = time.time_ns()
                response = put(
                    pb.PutRequest(
                        namespace=NAMESPACE, key="value", value_json=f'{{"round": {round_}}}'
                    )
                )
                acked = time.time_ns()
                writes.append(Write(int(response.revision), before, acked, worker))
                time.sleep(max(0.0, interval - (acked - before) / 1e9))
            last = writes[-1].revision
            deadline = time.monotonic() + max(10.0, interval * 5)
            for c in clients:
                c.finish(last, deadline)
            reports = [c.report(deadline - time.monotonic() + 60) for c in clients]
            wall = time.monotonic() - wall0
            cpu_by_worker = {str(pid): cpu_seconds(pid) - cpu0 for pid, cpu0 in server_cpu0.items()}
            store_cpu = cpu_since(store_cpu0, deployment.store_cpu())
            client_cpu = sum(cpu_seconds(c.pid) for c in clients) - client_cpu0
            rss_after_writes = sum(rss_kib(pid) for pid in server_pids)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(60)
        finally:
            for c in clients:
                c.close()
            for channel in [*writers.values(), *replica_channels]:
                channel.close()

    row.update(latencies(writes, reports))
    if per_worker:
        row["watchers_per_worker"] = per_worker
        row.update(paths(writes, reports))
    row.update(
        server_watcher_count=watcher_count,
        server_fds_opened=fds_after - fds_before,
        rss_before_kib=rss_before,
        rss_after_open_kib=rss_after_open,
        rss_after_writes_kib=rss_after_writes,
        kib_per_watcher=(rss_after_open - rss_before) / watchers,
        kib_per_watcher_after_writes=(rss_after_writes - rss_before) / watchers,
        expected_deliveries=watchers * rounds,
        complete_watchers=sum(r.complete for r in reports),
        client_errors=[e for r in reports for e in r.errors][:20],
        write_phase_wall_s=wall,
        server_cpu_s=sum(cpu_by_worker.values()),
        server_cpu_s_by_process=cpu_by_worker,
        client_cpu_s=client_cpu,
    )
    if store != "sqlite":
        row["store_cpu_s"] = store_cpu
    return row


def _receipts(write: Write, reports: Sequence[ClientReport], group: str | None = None) -> Any:
    """Receipt times (ns) of one write: every watcher's, or those of one group's watchers."""
    times: array.array[int] = array.array("q")
    for report in reports:
        raw = (
            report.receipts.get(write.revision)
            if group is None
            else report.by_group.get(group, {}).get(write.revision)
        )
        if raw:
            times.frombytes(raw)
    return times


def _stamp(write: Write, reports: Sequence[ClientReport]) -> int:
    return next((r.stamps[write.revision] for r in reports if write.revision in r.stamps), 0)


def latencies(writes: Sequence[Write], reports: Sequence[ClientReport]) -> dict[str, Any]:
    """Delivery latency of every write to every watcher, measured three ways (module doc)."""
    from_stamp: list[float] = []
    from_ack: list[float] = []
    from_call: list[float] = []
    per_round: list[dict[str, Any]] = []
    delivered = 0
    for write in writes:
        times = _receipts(write, reports)
        delivered += len(times)
        stamp = _stamp(write, reports)
        commit = [ms(t - stamp) for t in times]
        ack = [ms(t - write.acked) for t in times]
        call = [ms(t - write.before_call) for t in times]
        from_stamp.extend(commit)
        from_ack.extend(ack)
        from_call.extend(call)
        per_round.append(
            {
                "revision": write.revision,
                "worker": write.worker,
                "put_ms": ms(write.acked - write.before_call),
                "stamp_after_call_ms": ms(stamp - write.before_call),
                "from_stamp_ms": summarize(commit),
                "delivered": len(times),
                "from_ack_ms": summarize(ack),
                "from_call_ms": summarize(call),
            }
        )
    return {
        "delivered": delivered,
        "from_stamp_ms": summarize(from_stamp),
        "from_ack_ms": summarize(from_ack),
        "from_call_ms": summarize(from_call),
        "p99_from_stamp_ms_median_of_rounds": statistics.median(
            r["from_stamp_ms"].get("p99", float("nan")) for r in per_round
        ),
        "put_ms": summarize(r["put_ms"] for r in per_round),
        "per_round": per_round,
    }


def paths(writes: Sequence[Write], reports: Sequence[ClientReport]) -> dict[str, Any]:
    """Commit-to-receipt latency split by path: watchers on the worker that took the write
    ("same") and on the other workers, which apply it from the revision log ("cross")."""
    groups = {g for r in reports for g in r.by_group}
    same: list[float] = []
    cross: list[float] = []
    for write in writes:
        stamp = _stamp(write, reports)
        for group in groups:
            into = same if group == str(write.worker) else cross
            into.extend(ms(t - stamp) for t in _receipts(write, reports, group))
    same_s, cross_s = summarize(same), summarize(cross)
    added = {q: cross_s[q] - same_s[q] for q in ("p50", "p99") if q in same_s and q in cross_s}
    return {"same_worker_ms": same_s, "cross_worker_ms": cross_s, "cross_added_ms": added}


# -- main ---------------------------------------------------------------------------------------

TARGETS_P99_MS = {1_000: 100.0, 5_000: 400.0, 10_000: 1_000.0, 20_000: 1_500.0}
TARGET_KIB_PER_WATCHER = 40.0
TARGET_CROSS_ADDED_P99_MS = 5.0  # at 1,000 watchers


def _triple(stats: dict[str, float]) -> str:
    return f"{stats['p50']:7.1f} {stats['p99']:7.1f} {stats['max']:7.1f}"


def describe(row: dict[str, Any]) -> str:
    if "stopped_by" in row:
        return f"N={row['watchers']:>6}: STOPPED while opening the streams: " + "; ".join(
            row["stopped_by"]
        )
    if not row["from_stamp_ms"].get("count"):
        return f"N={row['watchers']:>6}: nothing delivered; " + "; ".join(row["limits_hit"])
    text = (
        f"N={row['watchers']:>6} p50/p99/max ms: commit {_triple(row['from_stamp_ms'])} | "
        f"ack {_triple(row['from_ack_ms'])} | call {_triple(row['from_call_ms'])} | "
        f"put p50 {row['put_ms']['p50']:.1f} | {row['kib_per_watcher']:5.1f} KiB/watcher | "
        f"delivered {row['delivered']}/{row['expected_deliveries']} | cpu server "
        f"{row['server_cpu_s']:.1f}s clients {row['client_cpu_s']:.1f}s in "
        f"{row['write_phase_wall_s']:.1f}s | open {row['open_seconds']:.1f}s"
    )
    if row["limits_hit"]:
        text += "\n  LIMITS: " + "; ".join(row["limits_hit"])
    if "cross_worker_ms" in row:
        text += "\n  " + describe_paths(row)
    return text


def describe_paths(row: dict[str, Any]) -> str:
    same, cross, added = row["same_worker_ms"], row["cross_worker_ms"], row["cross_added_ms"]
    if not same.get("count") or not cross.get("count"):
        return (
            "by path: no deliveries on one of the paths (every stream on one worker?); "
            f"watchers per worker pid {row['watchers_per_worker']}"
        )
    return (
        f"commit-to-receipt by path, p50/p99 ms: same worker as the write "
        f"{same['p50']:.1f}/{same['p99']:.1f} ({same['count']} deliveries) | other worker "
        f"{cross['p50']:.1f}/{cross['p99']:.1f} ({cross['count']}) | cross-worker adds "
        f"{added['p50']:+.1f}/{added['p99']:+.1f} | watchers per worker pid "
        f"{row['watchers_per_worker']}"
    )


def _medians(rows: Sequence[dict[str, Any]], name: str) -> str:
    return " ".join(f"{median_of(rows, name, q):7.1f}" for q in ("p50", "p99", "max"))


def preamble(options: argparse.Namespace) -> str:
    """What a run measures and with which limits, printed before the figures."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    per_process = max(int(c) for c in options.watchers.split(",") if c) / options.procs
    where = (
        "(fresh, temp data dir)"
        if options.store == "sqlite"
        else f"x{options.replicas} on a fresh PostgreSQL database (--store DSN); watchers on the "
        "last replica, writes to the first"
    )
    lines = [
        f"configd serve{f' --workers {options.workers}' if options.workers > 1 else ''}"
        f" {where} {' '.join(options.server_arg)}".rstrip(),
        f"watchers: {options.procs} {options.client} client processes, "
        f"{options.streams_per_connection} stream(s) per connection; open-file limit here "
        f"{soft} per process (RLIMIT_NOFILE; the server and every client process each have "
        f"their own): a connection costs the server one fd, so one server process holds at "
        f"most ~{soft - 200} connections, and a client process ~{soft - 200}; largest run: "
        f"{per_process:.0f} streams per client process",
        "server limits met by a watch run: "
        + "; ".join(f"{flag} {value}" for flag, value in SERVER_SETTINGS.items()),
        f"each run: {options.rounds} puts, {options.interval}s apart"
        + (", each to the next worker in turn" if options.workers > 1 else ""),
        "latency = receipt minus: commit (the change set's own time, stamped before the "
        "fsync: slightly over), ack (Put returned: under), call (before Put was called: over)",
    ]
    if options.workers > 1 and options.client == "node":
        lines.append(
            "by path: each stream's worker is found in /proc (which worker holds its "
            "connection's server end); a delivery is 'same worker' when the write went to the "
            "stream's worker, 'other worker' when that worker applied it from the revision log"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
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
        "--workers",
        type=int,
        default=1,
        help="configd serve --workers N; with N > 1 and --client node, deliveries are also "
        "split into the same-worker and the cross-worker path",
    )
    parser.add_argument(
        "--store",
        choices=STORES,
        default="sqlite",
        help="sqlite (a temp data directory, the default) or postgresql (a throwaway "
        "PostgreSQL cluster, a fresh database per run; configd serve --store DSN)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="with --store postgresql: configd processes on the database; the watchers on the "
        "last, every write to the first, so with 2 or more the figures are cross-replica "
        "delivery (default 1)",
    )
    parser.add_argument(
        "--streams-per-connection",
        type=int,
        default=1,
        help="watch streams on each client connection (HTTP/2 multiplexes them; default 1)",
    )
    parser.add_argument(
        "--open-stall",
        type=float,
        default=OPEN_STALL_SECONDS,
        help="give a run up when no stream opened or failed for this many seconds; the run "
        "then names the limit that stopped it (default %(default)s)",
    )
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
    if options.workers < 1 or options.streams_per_connection < 1 or options.procs < 1:
        parser.error("--workers, --streams-per-connection and --procs must be at least 1")
    if options.replicas < 1:
        parser.error("--replicas must be at least 1")
    if options.store == "sqlite" and options.replicas > 1:
        parser.error("--replicas needs --store postgresql (the replicas share its database)")
    if options.store == "postgresql" and options.workers > 1:
        parser.error("--workers is for --store sqlite; on PostgreSQL use --replicas")
    counts = [int(c) for c in options.watchers.split(",") if c]
    out = JsonLines("watch_bench", sys.stdout if options.json else None)
    log = sys.stderr if options.json else sys.stdout
    print(preamble(options), file=log, flush=True)
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
                options.workers,
                options.streams_per_connection,
                log,
                options.open_stall,
                options.store,
                options.replicas,
            )
            row["run"] = run
            out.write(row)
            print(describe(row), file=log, flush=True)
            if "stopped_by" not in row:
                rows[watchers].append(row)
    print(
        f"\nmedians over runs ({options.rounds} writes {options.interval}s apart per run, "
        f"{options.procs} {options.client} client processes, configd serve --workers "
        f"{options.workers}); latency p50/p99/max in ms:",
        file=log,
    )
    for watchers, done in rows.items():
        if not done:
            print(f"N={watchers:>6}: no complete run", file=log)
            continue
        target = TARGETS_P99_MS.get(watchers)
        goal = "" if target is None else f" (target p99 <= {target:.0f})"
        print(
            f"N={watchers:>6} runs={len(done)}: commit {_medians(done, 'from_stamp_ms')}{goal}"
            f" | ack {_medians(done, 'from_ack_ms')} | call {_medians(done, 'from_call_ms')}"
            f" | {median_of(done, 'kib_per_watcher'):.1f} KiB/watcher (target <= "
            f"{TARGET_KIB_PER_WATCHER:.0f}) | cpu server {median_of(done, 'server_cpu_s'):.1f}s"
            f" clients {median_of(done, 'client_cpu_s'):.1f}s in "
            f"{median_of(done, 'write_phase_wall_s'):.1f}s"
            f" | delivered {sum(r['delivered'] for r in done)}/"
            f"{sum(r['expected_deliveries'] for r in done)}",
            file=log,
        )
        split = [r for r in done if r.get("cross_added_ms", {}).get("p99") is not None]
        if split:
            print(
                f"{'':>8}by path, commit-to-receipt p50/p99 ms: same worker "
                f"{median_of(split, 'same_worker_ms', 'p50'):.1f}/"
                f"{median_of(split, 'same_worker_ms', 'p99'):.1f} | other worker "
                f"{median_of(split, 'cross_worker_ms', 'p50'):.1f}/"
                f"{median_of(split, 'cross_worker_ms', 'p99'):.1f} | added by the cross-worker "
                f"path {median_of(split, 'cross_added_ms', 'p50'):+.1f}/"
                f"{median_of(split, 'cross_added_ms', 'p99'):+.1f} (target: p99 added <= "
                f"{TARGET_CROSS_ADDED_P99_MS:.0f} ms at 1,000 watchers)",
                file=log,
            )
    if stopped_early:
        print(f"stopped early: --time-limit {options.time_limit}s reached", file=log)
    if out.path is not None:
        print(f"raw results: {out.path}", file=log)
    return 0 if all(rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
