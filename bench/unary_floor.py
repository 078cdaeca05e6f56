"""What a durable put cannot cost less than on this machine: the CPU floor under put_bench.

    .venv/bin/python bench/unary_floor.py [--rounds 3] [--target 3000] [--json]

Measures, with nothing of configd in the way:
  * a trivial unary gRPC call (a one-byte request, an empty reply) on a bare grpc.aio server
    run the way `configd serve` runs (uvloop, channelz off), from 64 calls in flight (2 client
    processes x 32, as put_bench.py), once with Python grpc.aio clients and once with the Node
    client (bench/unary_client.mjs) if node is installed: calls/s and CPU per call of server
    and clients;
  * a durable SQLite write of one put (configd's tables, a ~2 KB value, synchronous=FULL, WAL,
    10 puts per transaction as group commit gives at that load): CPU per put.
Then prints the budget: at --target puts/s, the machine's cores give each put N/target CPU
seconds, server and load generator together; the floor is the trivial call's server + client
CPU plus the SQLite write; what is left is all a put may spend on everything else (parsing,
schema validation, revision bookkeeping, history, the log line, metrics).
Figures are medians over --rounds runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import closed_loop
from put_bench import NAMESPACE, run_node_client, scenario, value

SERVICE = "bench.Floor"
METHOD_PATH = f"/{SERVICE}/Call"
REQUEST = b"\x00"  # the server passes bytes through undecoded; Node's request file needs one
PUTS_PER_TRANSACTION = 10


# -- the bare server ----------------------------------------------------------------------------


def bare_server(port_out: Any, stop: Any) -> None:
    """A grpc.aio server with one trivial method, on uvloop like `configd serve`."""
    import grpc

    async def call(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return b""

    handlers = {"Call": grpc.unary_unary_rpc_method_handler(call)}
    _serve(port_out, stop, grpc.method_handlers_generic_handler(SERVICE, handlers))


def configd_shaped_server(port_out: Any, stop: Any) -> None:
    """The bare server answering configd's own Get and Put paths with canned replies of
    configd's size (a Get's ~2 KB value and its key metadata; a Put's old and new value),
    requests passed through undecoded: put_bench's unchanged clients call it as they call
    configd, so bench/run.py measures the RPC itself in the same run as configd and etcd
    (its "floor" column). Nothing is stored: a put here is the call without its commit."""
    import grpc

    from configd_client.wire import config_pb2 as pb

    meta = pb.KeyMeta(key="k7", create_revision=7, mod_revision=4242, version=12)
    get_reply = pb.GetResponse(value_json=value(1), meta=meta, revision=4242).SerializeToString()
    put_reply = pb.WriteResponse(
        revision=4242,
        namespace=pb.NamespaceInfo(
            name=NAMESPACE, create_revision=1, mod_revision=4242, schema_version=1, key_count=50
        ),
        changes=[pb.KeyChange(key="k7", old_value_json=value(1), new_value_json=value(2))],
    ).SerializeToString()

    async def get(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return get_reply

    async def put(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return put_reply

    async def create(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return b""

    handlers = {
        "Get": grpc.unary_unary_rpc_method_handler(get),
        "Put": grpc.unary_unary_rpc_method_handler(put),
        "CreateNamespace": grpc.unary_unary_rpc_method_handler(create),
    }
    service = grpc.method_handlers_generic_handler("configd.v1.ConfigService", handlers)
    _serve(port_out, stop, service)


def _serve(port_out: Any, stop: Any, handler: Any) -> None:
    """Serve `handler` on a grpc.aio server run as `configd serve` runs it (uvloop, channelz
    off) until `stop` is set; the bound port goes to `port_out`."""
    import grpc
    import uvloop

    async def run() -> None:
        server = grpc.aio.server(options=[("grpc.enable_channelz", 0)])
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        port_out.put(port)
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await server.stop(None)

    uvloop.run(run())


# -- the clients (put_bench.scenario's client signature; `kind` is unused) ----------------------


def python_client(
    addr: str, kind: str, concurrency: int, per_worker: int, base: int, start_at: float, out: Any
) -> None:
    import grpc

    async def run() -> tuple[list[float], float, float]:
        async with grpc.aio.insecure_channel(addr) as channel:
            call = channel.unary_unary(METHOD_PATH)
            await call(REQUEST)  # connect first
            callers = [lambda i: call(REQUEST)] * concurrency
            return await closed_loop(callers, per_worker, start_at)

    out.put(asyncio.run(run()))


def node_client(
    addr: str, kind: str, concurrency: int, per_worker: int, base: int, start_at: float, out: Any
) -> None:
    out.put(
        run_node_client(
            addr, METHOD_PATH, concurrency, concurrency * per_worker, [REQUEST.hex()], start_at
        )
    )


# -- SQLite --------------------------------------------------------------------------------------


def sqlite_put_cpu_us(puts: int) -> float:
    """CPU per durable put: configd's tables, PUTS_PER_TRANSACTION puts per transaction."""
    from configd.storage.sqlite.migrations import MIGRATIONS

    namespace = "bench/payments"
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        for migration in MIGRATIONS:
            db.executescript(migration)
        db.execute("INSERT INTO namespaces VALUES (?, 1, 1, 1)", (namespace,))
        values = [value(i) for i in range(64)]
        current: dict[str, str] = {}
        revision = 1
        began = time.process_time()
        for _ in range(puts // PUTS_PER_TRANSACTION):
            revisions, changes, kv = [], [], []
            for _ in range(PUTS_PER_TRANSACTION):
                revision += 1
                key = f"k{revision % 50}"
                new, old = values[revision % len(values)], current.get(key)
                # Writes carry a request id (a uuid4 in hex), indexed unique.
                request_id = f"{revision:032x}"
                revisions.append(
                    (revision, namespace, "put", "bench", "", time.time(), 1, 1, request_id)
                )
                changes.append(
                    (namespace, key, revision)
                    + ((old, 1, revision - 1, 1) if old else (None, None, None, None))
                    + (new, 1, 1)
                )
                kv.append((namespace, key, new, 1, revision, 1))
                current[key] = new
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", revisions)
            db.executemany("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", changes)
            db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?, ?, ?)", kv)
            db.execute(
                "INSERT OR REPLACE INTO namespaces VALUES (?, ?, ?, ?)", (namespace, 1, revision, 1)
            )
            db.execute("COMMIT")
        spent = time.process_time() - began
        db.close()
    return spent / puts * 1e6


# -- main ---------------------------------------------------------------------------------------


def trivial_calls(client: Any, per_worker: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    port_out, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=bare_server, args=(port_out, stop))
    server.start()
    try:
        addr = f"127.0.0.1:{port_out.get(timeout=60)}"
        result = scenario(addr, server.pid or 0, "call", 2, 32, per_worker, client)
    finally:
        stop.set()
        server.join(30)
    ops = result["ops"]
    return {
        "calls_per_s": result["ops_per_s"],
        "server_us": result["server_cpu_s"] / ops * 1e6,
        "client_us": result["client_cpu_s"] / ops * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-worker", type=int, default=300, help="calls per concurrent caller")
    parser.add_argument("--target", type=float, default=3000.0, help="puts/s to budget for")
    parser.add_argument("--json", action="store_true", help="print raw results as JSON lines")
    args = parser.parse_args()

    clients: dict[str, Any] = {"python": python_client}
    if shutil.which("node"):
        clients["node"] = node_client
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    sqlite_us: list[float] = []
    for _ in range(args.rounds):
        for name, client in clients.items():
            runs[name].append(trivial_calls(client, args.per_worker))
            if args.json:
                print(json.dumps({"client": name, **runs[name][-1]}))
        sqlite_us.append(sqlite_put_cpu_us(2000))
    sqlite_med = statistics.median(sqlite_us)
    cores = os.cpu_count() or 1
    budget = cores / args.target * 1e6

    print(f"the floor under a put: median of {args.rounds} rounds; {cores} cores")
    print(f"{'trivial unary call':<30}{'calls/s':>10}{'server us':>11}{'client us':>11}")
    medians: dict[str, dict[str, float]] = {}
    for name, results in runs.items():
        medians[name] = {k: statistics.median(r[k] for r in results) for k in results[0]}
        m = medians[name]
        print(
            f"{name + ' clients, 64 in flight':<30}{m['calls_per_s']:>10.0f}"
            f"{m['server_us']:>11.0f}{m['client_us']:>11.0f}"
        )
    print(
        f"durable SQLite put (~2 KB, {PUTS_PER_TRANSACTION} per transaction): "
        f"{sqlite_med:.0f} us CPU"
    )
    print(f"budget at {args.target:.0f} puts/s on {cores} cores: {budget:.0f} us CPU per put")
    for name, m in medians.items():
        floor = m["server_us"] + m["client_us"] + sqlite_med
        print(
            f"  {name} clients: floor {floor:.0f} us (call {m['server_us']:.0f} + client "
            f"{m['client_us']:.0f} + SQLite {sqlite_med:.0f}); left for everything else: "
            f"{budget - floor:.0f} us"
        )


if __name__ == "__main__":
    main()
