"""Soak: mixed load against a real configd for a given duration (issue 8).

    .venv/bin/python bench/soak.py [--minutes 10] [--watchers 1000] [--write-rate 20]
                                   [--read-rate 100] [--json]

Starts configd (synchronous=FULL) on a temporary data directory and runs, in two client
processes so that the client is not the bottleneck:
  * load: puts at --write-rate per second (random namespace and key, a small JSON object)
    and gets at --read-rate per second, latency of each recorded;
  * watchers: --watchers watch streams kept open at all times; each lives 5-60 s, then is
    cancelled and replaced by a new one (a tenth watch a prefix, the rest one namespace),
    so watchers come and go for the whole run. Each checks that change sets arrive in
    strictly increasing revision order and records the delivery latency (commit time in the
    change set to receipt).
The main process samples the server's RSS every --sample seconds. At the end it prints the
errors (any RPC failure not caused by our own cancellation, any ordering violation), the RSS
series, latency percentiles, and whether memory was flat after warm-up (the first quarter of
the run): the RSS growth from the end of warm-up to the end, in MiB and per cent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import queue
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc
import grpc.aio
from _common import RESULTS_DIR, raise_open_files, rss_kib, summarize

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

NAMESPACES = [f"soak/svc-{i:02d}" for i in range(20)]
KEYS = [f"k{i:02d}" for i in range(50)]


async def _setup(addr: str) -> None:
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        for name in NAMESPACES:
            await stub.CreateNamespace(pb.CreateNamespaceRequest(name=name))


def _load(addr: str, seconds: float, write_rate: float, read_rate: float, out: Any) -> None:
    out.put(asyncio.run(_load_async(addr, seconds, write_rate, read_rate)))


async def _paced(
    rate: float, deadline: float, call: Any, latencies: list[float], errors: list[str]
) -> None:
    """`call()` at `rate` per second (open loop: concurrent when the server is slow)."""
    interval = 1.0 / rate
    next_at = time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        started = time.perf_counter()
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            errors.append(f"{exc.code().name}: {exc.details()}")
            return
        latencies.append(time.perf_counter() - started)

    while (now := time.monotonic()) < deadline:
        if now < next_at:
            await asyncio.sleep(next_at - now)
        next_at += interval
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)


async def _load_async(
    addr: str, seconds: float, write_rate: float, read_rate: float
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    writes: list[float] = []
    reads: list[float] = []
    errors: list[str] = []
    counter = 0
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)

        async def put() -> None:
            nonlocal counter
            counter += 1
            value = {"n": counter, "at": time.time(), "pad": "x" * random.randint(10, 400)}
            await stub.Put(
                pb.PutRequest(
                    namespace=random.choice(NAMESPACES),
                    key=random.choice(KEYS),
                    value_json=json.dumps(value),
                    message="soak",
                ),
                timeout=30,
            )

        async def get() -> None:
            try:
                await stub.Get(
                    pb.GetRequest(namespace=random.choice(NAMESPACES), key=random.choice(KEYS)),
                    timeout=30,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() is not grpc.StatusCode.NOT_FOUND:  # a key not yet written
                    raise

        await asyncio.gather(
            _paced(write_rate, deadline, put, writes, errors),
            _paced(read_rate, deadline, get, reads, errors),
        )
    return {"writes": writes, "reads": reads, "errors": errors}


def _watchers(addr: str, seconds: float, count: int, out: Any) -> None:
    out.put(asyncio.run(_watchers_async(addr, seconds, count)))


async def _watchers_async(addr: str, seconds: float, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    lags: list[float] = []
    errors: list[str] = []
    streams = 0
    events = 0
    # Several connections, as many services would have; each carries ~100 streams.
    channels = [grpc.aio.insecure_channel(addr) for _ in range(max(1, count // 100))]
    stubs = [pb_grpc.ConfigServiceStub(ch) for ch in channels]

    async def one(slot: int) -> None:
        nonlocal streams, events
        while time.monotonic() < deadline:
            life = min(random.uniform(5, 60), deadline - time.monotonic())
            if random.random() < 0.1:
                request = pb.WatchRequest(prefixes=["soak/"], send_snapshot=True)
            else:
                request = pb.WatchRequest(
                    namespaces=[random.choice(NAMESPACES)], send_snapshot=True
                )
            call = stubs[slot % len(stubs)].Watch(request)
            streams += 1
            last = 0
            lifetime = asyncio.timeout(max(life, 0.1))
            try:
                async with lifetime:
                    async for message in call:
                        kind = message.WhichOneof("event")
                        if kind == "snapshot":
                            last = message.snapshot.revision
                        elif kind == "change_set":
                            cs = message.change_set
                            if cs.revision <= last:
                                errors.append(f"order: revision {cs.revision} after {last}")
                            last = cs.revision
                            events += 1
                            lags.append(time.time() - cs.time.ToDatetime().timestamp())
            except TimeoutError:
                pass  # this watcher's life is over: it goes, another comes
            except grpc.aio.AioRpcError as exc:
                # Our own cancellation at the end of the watcher's life is not an error.
                if not (lifetime.expired() and exc.code() is grpc.StatusCode.CANCELLED):
                    errors.append(f"watch {exc.code().name}: {exc.details()}")
            except Exception as exc:
                errors.append(f"watch client: {exc!r}")
            finally:
                call.cancel()

    # Stagger the starts over the first few seconds.
    async def staggered(slot: int) -> None:
        await asyncio.sleep(random.uniform(0, 5))
        await one(slot)

    await asyncio.gather(*(staggered(i) for i in range(count)))
    for ch in channels:
        await ch.close()
    return {"lags": lags, "errors": errors, "streams": streams, "events": events}


def _ms(samples: list[float]) -> dict[str, float]:
    """count and percentiles in milliseconds."""
    summary = summarize(samples)
    return {k: (v if k == "count" else round(v * 1000.0, 2)) for k, v in summary.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--write-rate", type=float, default=20.0)
    parser.add_argument("--read-rate", type=float, default=100.0)
    parser.add_argument("--sample", type=float, default=10.0, help="RSS sample interval (s)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args()
    raise_open_files(65536)
    seconds = args.minutes * 60
    ctx = mp.get_context("spawn")
    with ConfigdProcess() as server:
        asyncio.run(_setup(server.grpc_addr))
        out: Any = ctx.Queue()
        procs = [
            ctx.Process(
                target=_load,
                args=(server.grpc_addr, seconds, args.write_rate, args.read_rate, out),
            ),
            ctx.Process(target=_watchers, args=(server.grpc_addr, seconds, args.watchers, out)),
        ]
        for proc in procs:
            proc.start()
        started = time.monotonic()
        rss: list[tuple[float, float]] = []
        while any(p.is_alive() for p in procs) and out.qsize() < len(procs):
            rss.append((round(time.monotonic() - started, 1), rss_kib(server.pid) / 1024))
            time.sleep(args.sample)
        results = []
        for _ in procs:
            try:
                results.append(out.get(timeout=120))
            except queue.Empty:
                results.append({"errors": ["a client process died; see its traceback"]})
        for proc in procs:
            proc.join()
        server_log = server.logs()
        if "Traceback" in server_log:  # keep the evidence; the data directory is temporary
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            kept = RESULTS_DIR / f"soak-server-{time.strftime('%Y%m%d-%H%M%S')}.log"
            kept.write_text(server_log)
            print(f"server log with tracebacks kept in {kept}", file=sys.stderr)
        code = server.stop()
    merged: dict[str, Any] = {"writes": [], "reads": [], "lags": [], "streams": 0, "events": 0}
    for part in results:
        merged.update({k: v for k, v in part.items() if k != "errors"})
    errors = [e for part in results for e in part["errors"]]
    warm = [mib for t, mib in rss if t >= seconds / 4]
    growth = (warm[-1] - warm[0]) if len(warm) >= 2 else float("nan")
    report = {
        "minutes": args.minutes,
        "watchers": args.watchers,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:10],
        "server_exit_code": code,
        "server_tracebacks": server_log.count("Traceback"),
        "writes_ms": _ms(merged["writes"]),
        "reads_ms": _ms(merged["reads"]),
        "watch_delivery_ms": _ms(merged["lags"]),
        "watch_streams_opened": merged["streams"],
        "watch_events": merged["events"],
        "rss_mib": [(t, round(m, 1)) for t, m in rss],
        "rss_after_warmup_mib": (round(warm[0], 1), round(warm[-1], 1)) if warm else None,
        "rss_growth_after_warmup_mib": round(growth, 1),
        "rss_growth_after_warmup_pct": round(100 * growth / warm[0], 1) if warm else None,
    }
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        if key != "rss_mib":
            print(f"{key}: {value}")
    print("rss_mib (t s, MiB):", " ".join(f"{t:.0f}:{m}" for t, m in report["rss_mib"]))


if __name__ == "__main__":
    main()
