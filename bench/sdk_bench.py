"""SDK benchmark: the cost of `get()` and commit-to-visible latency in one client.

    python bench/sdk_bench.py                 # starts its own configd on a temp dir
    python bench/sdk_bench.py --addr HOST:PORT --runs 5 --writes 500

Definitions (all clocks are time.perf_counter in this one process):
- get(): nanoseconds per `client.get(key)` on the threaded ConfigClient (and the async one),
  timed over a tight loop with the loop's own cost subtracted. Target: under 1 us.
- commit-to-visible, from the call: from just before the Put call is made to the moment the
  client has swapped in the Put's revision (taken in an on_change callback, which runs right
  after the swap). Includes the server's durable commit (fsync) and the watch delivery.
- commit-to-visible, from the ack: from the moment the Put call returned (the write is durable
  and acknowledged) to the same visible moment. It can be negative: the watch may deliver the
  change before the writer's response is processed. Target: p99 under 20 ms.
Writes are sequential (one in flight, each waited for) into a namespace the client watches.
Each run prints its figures; the summary is the median over runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from configd_client import AsyncConfigClient, ConfigClient, Snapshot
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

NAMESPACE = "bench/sdk"
KEYS = 100


@contextmanager
def local_server(synchronous: str) -> Iterator[str]:
    """A configd subprocess on a temporary data dir; yields its gRPC address."""
    with tempfile.TemporaryDirectory(prefix="configd-bench-") as tmp:
        log = open(Path(tmp) / "configd.log", "w")  # noqa: SIM115 (outlives this block)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "configd",
                "serve",
                "--no-auth",  # benchmarks measure the server, on loopback
                "--data-dir",
                str(Path(tmp) / "data"),
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--synchronous",
                synchronous,
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert process.stdout is not None
            addr = None
            while addr is None:
                line = process.stdout.readline()
                if not line:
                    raise SystemExit(f"configd did not start; see {log.name}")
                match = re.search(r"configd: grpc listening on (\S+)", line)
                if match:
                    addr = match.group(1)
            yield addr
        finally:
            process.terminate()
            process.wait(15)
            if process.stdout is not None:
                process.stdout.close()
            log.close()


def prepare(stub: Any) -> None:
    try:
        stub.CreateNamespace(pb.CreateNamespaceRequest(name=NAMESPACE), timeout=10)
    except grpc.RpcError as exc:
        if exc.code() is not grpc.StatusCode.ALREADY_EXISTS:
            raise
    document: dict[str, object] = {f"key{i}": {"value": i, "tags": ["a", "b"]} for i in range(KEYS)}
    document["n"] = 0
    stub.Apply(pb.ApplyRequest(namespace=NAMESPACE, document_json=json.dumps(document)))


def per_call_ns(statement: str, namespace: dict[str, Any], number: int) -> float:
    """Nanoseconds per execution of `statement`, minus the cost of an empty loop."""
    timer = timeit.Timer(statement, globals=namespace)
    empty = timeit.Timer("pass", globals=namespace)
    best = min(timer.repeat(repeat=5, number=number))
    base = min(empty.repeat(repeat=5, number=number))
    return (best - base) / number * 1e9


@dataclass
class RunResult:
    get_sync_ns: float
    get_async_ns: float
    snapshot_ns: float
    call_p50_ms: float
    call_p99_ms: float
    ack_p50_ms: float
    ack_p99_ms: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure_async_get(addr: str, number: int) -> float:
    async def run() -> float:
        async with AsyncConfigClient(NAMESPACE, addr=addr) as client:
            return per_call_ns("get('key42')", {"get": client.get}, number)

    result: float = asyncio.run(run())
    return result


def one_run(addr: str, writes: int, number: int) -> RunResult:
    channel = grpc.insecure_channel(addr)
    stub: Any = pb_grpc.ConfigServiceStub(channel)
    try:
        with ConfigClient(NAMESPACE, addr=addr) as client:
            get_sync = per_call_ns("get('key42')", {"get": client.get}, number)
            snap_ns = per_call_ns("snapshot()['key42']", {"snapshot": client.snapshot}, number)

            visible: dict[int, float] = {}
            arrived = threading.Condition()

            def on_change(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
                now = time.perf_counter()
                with arrived:
                    visible[new.revision] = now
                    arrived.notify_all()

            client.on_change(on_change)
            from_call: list[float] = []
            from_ack: list[float] = []
            for i in range(writes):
                request = pb.PutRequest(namespace=NAMESPACE, key="n", value_json=str(i + 1))
                started = time.perf_counter()
                revision = stub.Put(request, timeout=10).revision
                acked = time.perf_counter()
                with arrived:
                    if not arrived.wait_for(lambda: revision in visible, timeout=10):  # noqa: B023
                        raise SystemExit(f"revision {revision} never became visible")
                    seen = visible.pop(revision)
                from_call.append((seen - started) * 1e3)
                from_ack.append((seen - acked) * 1e3)
    finally:
        channel.close()
    return RunResult(
        get_sync_ns=get_sync,
        get_async_ns=measure_async_get(addr, number),
        snapshot_ns=snap_ns,
        call_p50_ms=percentile(from_call, 50),
        call_p99_ms=percentile(from_call, 99),
        ack_p50_ms=percentile(from_ack, 50),
        ack_p99_ms=percentile(from_ack, 99),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addr", help="an existing configd (default: start one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--writes", type=int, default=300, help="Puts per run")
    parser.add_argument("--calls", type=int, default=1_000_000, help="get() calls per timing")
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    args = parser.parse_args()

    def go(addr: str) -> None:
        channel = grpc.insecure_channel(addr)
        try:
            prepare(pb_grpc.ConfigServiceStub(channel))
        finally:
            channel.close()
        results = []
        for run in range(1, args.runs + 1):
            result = one_run(addr, args.writes, args.calls)
            results.append(result)
            print(
                f"run {run}: get() {result.get_sync_ns:.0f} ns (async {result.get_async_ns:.0f} "
                f"ns, snapshot()[k] {result.snapshot_ns:.0f} ns); commit-to-visible from call "
                f"p50 {result.call_p50_ms:.2f} ms p99 {result.call_p99_ms:.2f} ms, from ack "
                f"p50 {result.ack_p50_ms:.2f} ms p99 {result.ack_p99_ms:.2f} ms",
                flush=True,
            )

        def med(field: str) -> float:
            return float(statistics.median(float(getattr(r, field)) for r in results))

        where = args.addr or f"a local configd (--synchronous {args.synchronous})"
        print(
            f"\nmedian of {args.runs} runs against {where}, {args.writes} sequential Puts per "
            f"run, python {sys.version.split()[0]} on {os.cpu_count()} CPUs:"
        )
        print(f"  get()                       {med('get_sync_ns'):7.0f} ns/call  (target < 1000)")
        print(f"  AsyncConfigClient.get()     {med('get_async_ns'):7.0f} ns/call")
        print(f"  snapshot()[key]             {med('snapshot_ns'):7.0f} ns/call")
        print(
            f"  commit-to-visible from call p50 {med('call_p50_ms'):6.2f} ms  "
            f"p99 {med('call_p99_ms'):6.2f} ms"
        )
        print(
            f"  commit-to-visible from ack  p50 {med('ack_p50_ms'):6.2f} ms  "
            f"p99 {med('ack_p99_ms'):6.2f} ms  (target p99 < 20)"
        )

    if args.addr:
        go(args.addr)
    else:
        with local_server(args.synchronous) as addr:
            go(addr)


if __name__ == "__main__":
    main()
