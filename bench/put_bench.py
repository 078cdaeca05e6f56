"""Durable, schema-validated puts and gets against a real configd (issue: server core).

    .venv/bin/python bench/put_bench.py [--rounds 3] [--seconds 5] [--json]

Starts configd (synchronous=FULL, the default) on a temp data dir, creates a namespace with a
realistic schema, and measures:
  * sequential puts (1 in flight): latency p50/p99 and throughput;
  * puts with 64 in flight, from 2 client processes x 32 concurrent calls;
  * gets with 64 in flight, likewise.
Each value is a ~2 KB JSON object validated against the schema. Client load runs in separate
processes; server and client CPU seconds are reported so a client bottleneck is visible.
Figures are medians over --rounds runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ServerProcess, cpu_seconds, percentile

NAMESPACE = "bench/payments"
SCHEMA = {
    "type": "object",
    "properties": {
        "routing": {
            "type": "object",
            "properties": {
                "version": {"type": "integer", "minimum": 0},
                "rules": {
                    "type": "array",
                    "maxItems": 100,
                    "items": {
                        "type": "object",
                        "properties": {
                            "match": {"type": "string", "maxLength": 200},
                            "upstream": {"type": "string", "format": "hostname"},
                            "weight": {"type": "integer", "minimum": 0, "maximum": 100},
                            "timeout_ms": {"type": "integer", "minimum": 1},
                            "retry": {"type": "boolean"},
                        },
                        "required": ["match", "upstream", "weight"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["version", "rules"],
        },
        "counter": {"type": "integer"},
    },
    "patternProperties": {"^k[0-9]+$": {"$ref": "#/properties/routing"}},
    "additionalProperties": False,
}


def value(version: int) -> str:
    rules = [
        {
            "match": f"/api/v{version % 7}/payments/{i}/capture?region=eu-west",
            "upstream": f"payments-{i}.svc.cluster.local",
            "weight": (i * 7) % 100,
            "timeout_ms": 250 + i,
            "retry": i % 2 == 0,
        }
        for i in range(13)
    ]
    return json.dumps({"version": version, "rules": rules})


VALUE_BYTES = len(value(1))


async def _put_worker(stub: Any, pb: Any, key: str, count: int, lat: list[float]) -> None:
    for i in range(count):
        started = time.perf_counter()
        await stub.Put(pb.PutRequest(namespace=NAMESPACE, key=key, value_json=value(i)))
        lat.append(time.perf_counter() - started)


async def _get_worker(stub: Any, pb: Any, key: str, count: int, lat: list[float]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        await stub.Get(pb.GetRequest(namespace=NAMESPACE, key=key))
        lat.append(time.perf_counter() - started)


def client(
    addr: str, kind: str, concurrency: int, per_worker: int, base: int, start_at: float, out: Any
) -> None:
    """One client process: `concurrency` calls in flight on one channel."""
    import grpc

    from configd_client._proto.configd.v1 import config_pb2 as pb
    from configd_client._proto.configd.v1 import config_pb2_grpc as pb_grpc

    async def run() -> tuple[list[float], float, float]:
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            await stub.Get(pb.GetRequest(namespace=NAMESPACE, key="k0"))  # connect first
            # All client processes start their load at the same moment.
            await asyncio.sleep(max(0.0, start_at - time.time()))
            lat: list[float] = []
            worker = _put_worker if kind == "put" else _get_worker
            began = time.perf_counter()
            await asyncio.gather(
                *(
                    worker(stub, pb, f"k{(base + i) % 50}", per_worker, lat)
                    for i in range(concurrency)
                )
            )
            return lat, began, time.perf_counter()

    lat, began, ended = asyncio.run(run())
    out.put((lat, ended - began, cpu_seconds(os.getpid())))


def scenario(
    addr: str,
    server_pid: int,
    kind: str,
    processes: int,
    concurrency: int,
    per_worker: int,
    target: Callable[..., None] = client,
) -> dict[str, float]:
    """`processes` client processes running `target` (client's signature; bench/etcd_bench.py
    has etcd's) at once; latency percentiles, throughput and CPU of server and clients."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 2.0
    procs = [
        ctx.Process(
            target=target,
            args=(addr, kind, concurrency, per_worker, p * concurrency, start_at, queue),
        )
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    server_cpu_before = cpu_seconds(server_pid)
    results = [queue.get(timeout=300) for _ in procs]
    server_cpu = cpu_seconds(server_pid) - server_cpu_before
    for proc in procs:
        proc.join()
    latencies = [x for lat, _, _ in results for x in lat]
    elapsed = max(e for _, e, _ in results)
    return {
        "ops": len(latencies),
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "server_cpu_s": server_cpu,
        "client_cpu_s": sum(c for _, _, c in results),
        "elapsed_s": elapsed,
    }


def setup(addr: str) -> None:
    import grpc

    from configd_client._proto.configd.v1 import config_pb2 as pb
    from configd_client._proto.configd.v1 import config_pb2_grpc as pb_grpc

    async def run() -> None:
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            await stub.CreateNamespace(
                pb.CreateNamespaceRequest(name=NAMESPACE, schema_json=json.dumps(SCHEMA))
            )
            for i in range(50):
                await stub.Put(pb.PutRequest(namespace=NAMESPACE, key=f"k{i}", value_json=value(i)))

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=2000, help="puts per sequential run")
    parser.add_argument("--per-worker", type=int, default=150, help="calls per concurrent worker")
    parser.add_argument("--json", action="store_true", help="print raw results as JSON lines")
    args = parser.parse_args()

    plan = [
        ("put, 1 in flight", "put", 1, 1, args.sequential),
        ("put, 64 in flight", "put", 2, 32, args.per_worker),
        ("get, 64 in flight", "get", 2, 32, args.per_worker * 4),
    ]
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "data") as server:
        setup(server.grpc_addr)
        rows: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in plan}
        for _ in range(args.rounds):
            for name, kind, processes, concurrency, per_worker in plan:
                result = scenario(
                    server.grpc_addr, server.pid, kind, processes, concurrency, per_worker
                )
                rows[name].append(result)
                if args.json:
                    print(json.dumps({"scenario": name, **result}))
    print(
        f"configd puts: durable (synchronous=FULL), schema-validated, value {VALUE_BYTES} B; "
        f"median of {args.rounds} rounds; {os.cpu_count()} cores"
    )
    print(
        f"{'scenario':<20}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'server cpu':>12}{'client cpu':>12}"
    )
    for name, results in rows.items():

        def med(field: str, results: list[dict[str, float]] = results) -> float:
            return statistics.median(r[field] for r in results)

        print(
            f"{name:<20}{med('ops_per_s'):>10.0f}{med('p50_ms'):>10.2f}{med('p99_ms'):>10.2f}"
            f"{med('server_cpu_s'):>11.1f}s{med('client_cpu_s'):>11.1f}s"
        )


if __name__ == "__main__":
    main()
