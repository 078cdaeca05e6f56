"""Where a sequential put's and get's server CPU goes, thread by thread (issue 15, point 4).

    .venv/bin/python bench/seq_threads.py [--calls 1500] [--rounds 3] [--compare DIR] [--json]

Starts a real `configd serve` (--log-level warning, as bench/run.py), creates put_bench's
namespace, then, in each round, makes --calls puts and --calls gets one after another (1 in
flight, one grpc.aio client in this process) and reads every server thread's CPU from
/proc/<pid>/task before and after: the event loop (MainThread), the SQLite writer thread,
the doorbell thread, aiosqlite's reader threads, grpc's C threads. Prints per call: p50
latency, server CPU (and its system share), and its split by thread, medians over the rounds.
With --compare DIR a second server imports configd from DIR (e.g. `git archive` of another
commit; run from outside the checkout, whose own directory would come first on sys.path),
and the two servers' rounds alternate: the machine is shared and noisy, so compare figures
of one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile
from put_bench import NAMESPACE, setup, value

from configd.testing import ConfigdProcess

_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds per thread name (threads of one name summed)."""
    totals: dict[str, tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name == "python":  # Python does not name its threads for the OS: tell them apart
            name = "event loop (main thread)" if int(tid) == pid else f"python thread {tid}"
        fields = stat[stat.rindex(")") + 2 :].split()
        user, system = totals[name]
        totals[name] = (user + int(fields[11]) / _TICKS, system + int(fields[12]) / _TICKS)
    return totals


async def sequential(addr: str, kind: str, calls: int, base: int) -> list[float]:
    import grpc

    from configd_client.wire import config_pb2 as pb
    from configd_client.wire import config_pb2_grpc as pb_grpc

    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.Get(pb.GetRequest(namespace=NAMESPACE, key="k0"))
        latencies = []
        get = pb.GetRequest(namespace=NAMESPACE, key="k1")
        for i in range(calls):
            started = time.perf_counter()
            if kind == "put":
                await stub.Put(
                    pb.PutRequest(namespace=NAMESPACE, key="k1", value_json=value(base + i))
                )
            else:
                await stub.Get(get)
            latencies.append(time.perf_counter() - started)
        return latencies


def measure(server: ConfigdProcess, kind: str, calls: int, base: int) -> dict[str, Any]:
    before = thread_cpu(server.pid)
    latencies = asyncio.run(sequential(server.grpc_addr, kind, calls, base))
    after = thread_cpu(server.pid)
    by_thread, system = {}, 0.0
    for name, (user, sys_) in after.items():
        user0, sys0 = before.get(name, (0.0, 0.0))
        if user + sys_ > user0 + sys0:
            by_thread[name] = (user + sys_ - user0 - sys0) / calls * 1e6
            system += (sys_ - sys0) / calls * 1e6
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "cpu_us": sum(by_thread.values()),
        "sys_us": system,
        "by_thread_us": by_thread,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--compare",
        type=Path,
        help="also run a server importing configd from this directory (PYTHONPATH), its "
        "rounds alternating with this tree's",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.compare is not None:
        trees.append((str(args.compare), args.compare.resolve()))
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    with contextlib.ExitStack() as stack:
        servers = []
        for label, path in trees:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            env = dict(os.environ)
            if path is not None:
                os.environ["PYTHONPATH"] = str(path)
            try:
                server = stack.enter_context(
                    ConfigdProcess(Path(tmp) / "data", "--log-level", "warning")
                )
            finally:
                os.environ.clear()
                os.environ.update(env)
            setup(server.grpc_addr)
            servers.append((label, server))
        for round_ in range(args.rounds):
            for label, server in servers:
                for kind in ("put", "get"):
                    row = measure(server, kind, args.calls, round_ * args.calls)
                    rows[(label, kind)].append(row)
                    if args.json:
                        print(json.dumps({"tree": label, "kind": kind, "round": round_, **row}))
    if len(trees) == 2:
        for kind in ("put", "get"):
            ours, theirs = rows[(trees[0][0], kind)], rows[(trees[1][0], kind)]
            for figure, unit in (("p50_ms", "ms"), ("cpu_us", "us")):
                paired = [a[figure] - b[figure] for a, b in zip(ours, theirs, strict=True)]
                print(
                    f"{kind} {figure}: this tree - {trees[1][0]}, median of the rounds' "
                    f"differences: {statistics.median(paired):+.3f} {unit}"
                )
    for (label, kind), runs in rows.items():
        names = sorted({n for r in runs for n in r["by_thread_us"]})
        split = {n: statistics.median(r["by_thread_us"].get(n, 0.0) for r in runs) for n in names}
        each = ", ".join(f"{r['p50_ms']:.2f}" for r in runs)
        print(
            f"{label}, {kind}: p50 {statistics.median(r['p50_ms'] for r in runs):.3f} ms "
            f"(rounds {each}), server CPU "
            f"{statistics.median(r['cpu_us'] for r in runs):.0f} us per call "
            f"(system {statistics.median(r['sys_us'] for r in runs):.0f})"
        )
        for name, us in sorted(split.items(), key=lambda item: -item[1]):
            if us >= 5:
                print(f"  {name:<28} {us:7.0f} us")


if __name__ == "__main__":
    main()
