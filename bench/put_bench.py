"""Durable, schema-validated puts and gets against a real configd (issue: server core).

    .venv/bin/python bench/put_bench.py [--rounds 3] [--client python|node] [--json]

Starts configd (synchronous=FULL, the default) on a temp data dir, creates a namespace with a
realistic schema, and measures:
  * sequential puts (1 in flight): latency p50/p99 and throughput;
  * puts with 64 in flight, from 2 client processes x 32 concurrent calls;
  * gets with 64 in flight, likewise.
Each value is a ~2 KB JSON object validated against the schema. Client load runs in separate
processes; server and client CPU seconds are reported so a client bottleneck is visible.
Figures are medians over --rounds runs.

--client picks the load generator: python (grpc.aio, as the SDK; the default) or node
(bench/unary_client.mjs, raw gRPC over Node's built-in HTTP/2), which costs less CPU per call
and so leaves more of a 2-core machine to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import closed_loop, cpu_seconds, percentile

from configd.testing import ConfigdProcess

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


def client(
    addr: str,
    kind: str,
    concurrency: int,
    per_worker: int,
    base: int,
    start_at: float,
    out: Any,
    connections: int = 1,
) -> None:
    """One client process: `concurrency` calls in flight on `connections` channels (each its
    own connection; with `configd serve --workers N` the kernel spreads connections, not calls,
    over the workers), the callers taking them in turn."""
    import grpc

    from configd_client.wire import config_pb2 as pb
    from configd_client.wire import config_pb2_grpc as pb_grpc

    async def run() -> tuple[list[float], float, float]:
        options = [("grpc.use_local_subchannel_pool", 1)]
        channels = [grpc.aio.insecure_channel(addr, options=options) for _ in range(connections)]
        try:
            stubs = [pb_grpc.ConfigServiceStub(channel) for channel in channels]
            for stub in stubs:  # connect first
                await stub.Get(pb.GetRequest(namespace=NAMESPACE, key="k0"))

            def caller(stub: Any, key: str) -> Callable[[int], Awaitable[object]]:
                if kind == "put":
                    return lambda i: stub.Put(
                        pb.PutRequest(namespace=NAMESPACE, key=key, value_json=value(i))
                    )
                request = pb.GetRequest(namespace=NAMESPACE, key=key)
                return lambda i: stub.Get(request)

            callers = [
                caller(stubs[i % connections], f"k{(base + i) % 50}") for i in range(concurrency)
            ]
            return await closed_loop(callers, per_worker, start_at)
        finally:
            for channel in channels:
                await channel.close()

    out.put(asyncio.run(run()))


def requests_hex(kind: str, concurrency: int, base: int, count: int) -> list[str]:
    """The requests a Node client sends in turn: the Python client's keys, one per concurrent
    caller, each with a new value on every round."""
    from configd_client.wire import config_pb2 as pb

    messages = [
        pb.PutRequest(namespace=NAMESPACE, key=f"k{(base + i) % 50}", value_json=value(n))
        if kind == "put"
        else pb.GetRequest(namespace=NAMESPACE, key=f"k{(base + i) % 50}")
        for n in range(count)
        for i in range(concurrency)
    ]
    return [m.SerializeToString().hex() for m in messages]


UNARY_CLIENT = Path(__file__).resolve().parent / "unary_client.mjs"


def run_node_client(
    addr: str, path: str, concurrency: int, total: int, requests: list[str], start_at: float
) -> tuple[list[float], float, float]:
    """bench/unary_client.mjs: latencies (s), elapsed (s), its CPU seconds."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("--client node needs Node.js (node) on PATH")
    host, port = addr.rsplit(":", 1)
    with tempfile.NamedTemporaryFile("w", suffix=".hex") as file:
        file.write("\n".join(requests))
        file.flush()
        done = subprocess.run(
            [
                node,
                str(UNARY_CLIENT),
                host,
                port,
                path,
                str(concurrency),
                str(total),
                file.name,
                str(int(start_at * 1000)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    report = json.loads(done.stdout)
    if report["error_count"]:
        raise RuntimeError(f"{report['error_count']} calls failed, e.g. {report['errors']}")
    return [ms / 1000 for ms in report["latencies"]], report["elapsed_s"], report["cpu_s"]


def node_client(
    addr: str, kind: str, concurrency: int, per_worker: int, base: int, start_at: float, out: Any
) -> None:
    """One Node client process (client's signature): `concurrency` calls in flight on one
    HTTP/2 connection, `concurrency * per_worker` calls in all."""
    method = "Put" if kind == "put" else "Get"
    out.put(
        run_node_client(
            addr,
            f"/configd.v1.ConfigService/{method}",
            concurrency,
            concurrency * per_worker,
            requests_hex(kind, concurrency, base, min(per_worker, 20)),
            start_at,
        )
    )


def scenario(
    addr: str | Sequence[str],
    server_pid: int | Sequence[int],
    kind: str,
    processes: int,
    concurrency: int,
    per_worker: int,
    target: Callable[..., None] = client,
) -> dict[str, Any]:
    """`processes` client processes running `target` (client's signature; bench/etcd_bench.py
    has etcd's) at once; latency percentiles, throughput and CPU of server and clients. The
    server's CPU is summed over `server_pid` (several: the workers of `configd serve
    --workers N`, or the replicas on one PostgreSQL database; their shares are in
    server_cpu_s_by_process). Several `addr`es (replicas): client process p calls addr[p % n],
    so the load spreads over them."""
    pids = [server_pid] if isinstance(server_pid, int) else list(server_pid)
    addrs = [addr] if isinstance(addr, str) else list(addr)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 2.0
    procs = [
        ctx.Process(
            target=target,
            args=(
                addrs[p % len(addrs)],
                kind,
                concurrency,
                per_worker,
                p * concurrency,
                start_at,
                queue,
            ),
        )
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    server_cpu_before = {pid: cpu_seconds(pid) for pid in pids}
    results = [queue.get(timeout=300) for _ in procs]
    by_process = {str(pid): cpu_seconds(pid) - cpu0 for pid, cpu0 in server_cpu_before.items()}
    server_cpu = sum(by_process.values())
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
        "server_cpu_s_by_process": by_process,
        "server_cpu_us_per_op": server_cpu / len(latencies) * 1e6 if latencies else float("nan"),
        "client_cpu_s": sum(c for _, _, c in results),
        "elapsed_s": elapsed,
    }


def setup(addr: str) -> int:
    """The benchmark's namespace and its 50 keys; the revision of the last write."""
    import grpc

    from configd_client.wire import config_pb2 as pb
    from configd_client.wire import config_pb2_grpc as pb_grpc

    async def run() -> int:
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            await stub.CreateNamespace(
                pb.CreateNamespaceRequest(name=NAMESPACE, schema_json=json.dumps(SCHEMA))
            )
            revision = 0
            for i in range(50):
                put = await stub.Put(
                    pb.PutRequest(namespace=NAMESPACE, key=f"k{i}", value_json=value(i))
                )
                revision = put.revision
            return revision

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=2000, help="puts per sequential run")
    parser.add_argument("--per-worker", type=int, default=150, help="calls per concurrent worker")
    parser.add_argument(
        "--client",
        choices=("python", "node"),
        default="python",
        help="load generator: python (grpc.aio, as the SDK) or node (bench/unary_client.mjs)",
    )
    parser.add_argument("--json", action="store_true", help="print raw results as JSON lines")
    args = parser.parse_args()
    target = node_client if args.client == "node" else client

    plan = [
        ("put, 1 in flight", "put", 1, 1, args.sequential),
        ("put, 64 in flight", "put", 2, 32, args.per_worker),
        ("get, 64 in flight", "get", 2, 32, args.per_worker * 4),
    ]
    with tempfile.TemporaryDirectory() as tmp, ConfigdProcess(Path(tmp) / "data") as server:
        setup(server.grpc_addr)
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in plan}
        for _ in range(args.rounds):
            for name, kind, processes, concurrency, per_worker in plan:
                result = scenario(
                    server.grpc_addr, server.pid, kind, processes, concurrency, per_worker, target
                )
                rows[name].append(result)
                if args.json:
                    print(json.dumps({"scenario": name, **result}))
    print(
        f"configd puts: durable (synchronous=FULL), schema-validated, value {VALUE_BYTES} B; "
        f"{args.client} clients; median of {args.rounds} rounds; {os.cpu_count()} cores"
    )
    print(
        f"{'scenario':<20}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'server cpu':>12}{'client cpu':>12}"
    )
    for name, results in rows.items():

        def med(field: str, results: list[dict[str, Any]] = results) -> float:
            return statistics.median(r[field] for r in results)

        print(
            f"{name:<20}{med('ops_per_s'):>10.0f}{med('p50_ms'):>10.2f}{med('p99_ms'):>10.2f}"
            f"{med('server_cpu_s'):>11.1f}s{med('client_cpu_s'):>11.1f}s"
        )


if __name__ == "__main__":
    main()
