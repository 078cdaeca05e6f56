"""Releases: commit-to-acknowledgement latency for a release to N clients, what acks cost the
server, and whether clients outside the slice see their deliveries slowed.

    .venv/bin/python bench/release_bench.py [--slice 1000] [--outside 200] [--procs 4]
        [--rounds 5] [--interval 0.2] [--json]

A fresh `configd serve` (temporary SQLite data directory, --no-auth). --slice clients labelled
zone=eu and --outside clients labelled zone=us, held by --procs spawned client processes
(grpc.aio, one connection per client, as the SDK holds it), each watch the prefix "bench/"
with its ClientInfo and, like the SDK, acknowledges every snapshot and change set it gets with
one ReleaseService.Ack on its own connection. The slice clients watch bench/rel (the released
namespace); the outside clients watch bench/rel and bench/plain.

Phases, from this process:
  1. baseline: a put to bench/plain every --interval s, no release (acknowledged by the
     outside clients, as an SDK acknowledges every revision);
  2. releases: --rounds times, a release of bench/rel selecting zone=eu is started, the
     bench waits until every slice client has acknowledged it, then aborts it (and waits for
     those acks); the puts to bench/plain go on all the while;
  3. the same release rounds with the clients NOT acknowledging, for the server's CPU without
     acks.

Figures: commit-to-ack latency of the release starts over every slice client and round
(p50/p99, and the share within 2 s), as the client saw it (the change set's commit stamp to
its Ack call returning, which is when the ack is durable in the store) and as the server's
configd_ack_latency_seconds says; the bench/plain delivery latency of the outside clients in
phase 1 vs phase 2 (median and p99 ratio; target within 5 %); and the server CPU per
acknowledgement: (phase 2 CPU - phase 3 CPU) / acks in phase 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import WATCHER_CHANNEL_OPTIONS, cpu_seconds, summarize

from configd.testing import ConfigdProcess

RELEASE_NS = "bench/rel"
PLAIN_NS = "bench/plain"


# -- the client processes -----------------------------------------------------------------------


def client_main(addr: str, clients: list[tuple[str, str]], conn: Connection) -> None:
    """Hold one watch per (client id, zone); record receipts and acks; answer commands."""
    import grpc

    from configd_client.wire import config_pb2, config_pb2_grpc, release_pb2, release_pb2_grpc

    # client id, namespace, revision, kind, commit stamp, received, acked (ns)
    records: list[tuple[str, str, int, int, int, int, int]] = []
    state = {"ack": True, "ready": 0, "failed": 0}
    errors: dict[str, int] = {}

    async def send(stub: Any, request: Any) -> None:
        """One Ack, retried as the SDK retries it (the newest outcome, after a pause)."""
        for _ in range(10):
            try:
                await stub.Ack(request)
                return
            except grpc.aio.AioRpcError as exc:
                key = f"{exc.code().name}: {exc.details()}"[:120]
                errors[key] = errors.get(key, 0) + 1
                await asyncio.sleep(0.2)

    async def one(client_id: str, zone: str) -> None:
        channel = grpc.aio.insecure_channel(addr, options=WATCHER_CHANNEL_OPTIONS)
        watch = config_pb2_grpc.ConfigServiceStub(channel)
        release = release_pb2_grpc.ReleaseServiceStub(channel)
        # The slice watches the released namespace; the clients outside it also watch the
        # namespace the bench writes to meanwhile, whose deliveries are measured.
        names = [RELEASE_NS] if zone == "eu" else [RELEASE_NS, PLAIN_NS]
        request = config_pb2.WatchRequest(
            namespaces=names,
            send_snapshot=True,
            client=config_pb2.ClientInfo(client_id=client_id, labels={"zone": zone}),
        )
        try:
            async for response in watch.Watch(request):
                event = response.WhichOneof("event")
                if event == "snapshot":
                    state["ready"] += 1
                    acks = [
                        release_pb2.NamespaceAck(
                            namespace=doc.namespace.name,
                            revision=response.snapshot.revision,
                            outcome=release_pb2.ACK_OUTCOME_APPLIED,
                        )
                        for doc in response.snapshot.namespaces
                    ]
                    if acks:
                        await send(release, release_pb2.AckRequest(client_id=client_id, acks=acks))
                elif event == "change_set":
                    cs = response.change_set
                    received = time.time_ns()
                    acked = 0
                    if state["ack"]:
                        await send(
                            release,
                            release_pb2.AckRequest(
                                client_id=client_id,
                                acks=[
                                    release_pb2.NamespaceAck(
                                        namespace=cs.namespace,
                                        revision=cs.revision,
                                        outcome=release_pb2.ACK_OUTCOME_APPLIED,
                                    )
                                ],
                            ),
                        )
                        acked = time.time_ns()
                    records.append(
                        (
                            client_id,
                            cs.namespace,
                            cs.revision,
                            int(cs.kind),
                            cs.time.ToNanoseconds(),
                            received,
                            acked,
                        )
                    )
        except grpc.aio.AioRpcError:
            state["failed"] += 1
        finally:
            await channel.close()

    async def control() -> None:
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(one(i, z)) for i, z in clients]
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "ready":
                conn.send((state["ready"], state["failed"]))
            elif command in ("ack", "noack"):
                state["ack"] = command == "ack"
                conn.send(True)
            elif command == "errors":
                conn.send(dict(errors))
            elif command == "report":
                conn.send(list(records))
                records.clear()
            elif command == "stop":
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                conn.send(True)
                return

    asyncio.run(control())


# -- the bench ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slice", type=int, default=1000)
    parser.add_argument("--outside", type=int, default=200)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument(
        "--round-seconds", type=float, default=4.0, help="How long each release runs."
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import grpc

    from configd_client.wire import config_pb2, config_pb2_grpc, release_pb2, release_pb2_grpc

    with ConfigdProcess(None, "--log-level", "warning") as server:
        channel = grpc.insecure_channel(server.grpc_addr)
        config = config_pb2_grpc.ConfigServiceStub(channel)
        releases = release_pb2_grpc.ReleaseServiceStub(channel)
        config.CreateNamespace(
            config_pb2.CreateNamespaceRequest(name=RELEASE_NS, document_json='{"v": 0}')
        )
        config.CreateNamespace(
            config_pb2.CreateNamespaceRequest(name=PLAIN_NS, document_json='{"n": 0}')
        )
        ids = [(f"eu-{i}", "eu") for i in range(args.slice)] + [
            (f"us-{i}", "us") for i in range(args.outside)
        ]
        ctx = mp.get_context("spawn")
        pipes, procs = [], []
        for p in range(args.procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=client_main, args=(server.grpc_addr, ids[p :: args.procs], child)
            )
            proc.start()
            pipes.append(parent)
            procs.append(proc)

        def ask(command: str) -> list[Any]:
            for pipe in pipes:
                pipe.send(command)
            return [pipe.recv() for pipe in pipes]

        deadline = time.monotonic() + 120
        while True:
            ready = ask("ready")
            if sum(r for r, _ in ready) + sum(f for _, f in ready) >= len(ids):
                failed = sum(f for _, f in ready)
                if failed:
                    print(f"warning: {failed} of {len(ids)} watch streams failed to open")
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {ready} streams opened")
            time.sleep(0.5)
        time.sleep(1.0)
        ask("report")

        stop_puts = False
        put_count = [0]

        async def puts() -> None:
            achannel = grpc.aio.insecure_channel(server.grpc_addr)
            stub = config_pb2_grpc.ConfigServiceStub(achannel)
            while not stop_puts:
                put_count[0] += 1
                await stub.Put(
                    config_pb2.PutRequest(namespace=PLAIN_NS, key="n", value_json=str(put_count[0]))
                )
                await asyncio.sleep(args.interval)
            await achannel.close()

        def run_puts(seconds: float) -> None:
            nonlocal stop_puts
            stop_puts = False

            async def timed() -> None:
                nonlocal stop_puts
                task = asyncio.create_task(puts())
                await asyncio.sleep(seconds)
                stop_puts = True
                await task

            asyncio.run(timed())

        def watch_tally(revision: int, seconds: float) -> None:
            """Poll the release's status every 0.25 s for `seconds` (the same calls in every
            phase, so their CPU cancels out of the comparison); warn if not all applied."""
            applied = targeted = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                status = releases.GetRelease(
                    release_pb2.GetReleaseRequest(namespace=RELEASE_NS, release_id=revision)
                )
                applied, targeted = status.tally.applied, status.tally.targeted
                time.sleep(0.25)
            if acking[0] and applied < args.slice:
                print(
                    f"warning: release {revision}: {applied} of {args.slice} slice clients "
                    f"applied it ({targeted} targeted)"
                )

        acking = [True]

        def release_rounds(ack: bool) -> tuple[float, int]:
            """CPU seconds of the server over the rounds, and the revisions started."""
            ask("ack" if ack else "noack")
            acking[0] = ack
            import threading

            nonlocal stop_puts
            stop_puts = False
            thread = threading.Thread(target=asyncio.run, args=(puts(),), daemon=True)
            thread.start()
            cpu0 = cpu_seconds(server.pid)
            starts = 0
            for r in range(args.rounds):
                started = releases.StartRelease(
                    release_pb2.StartReleaseRequest(
                        namespace=RELEASE_NS,
                        document_json=json.dumps({"v": r + 1}),
                        selectors=[release_pb2.LabelSelector(label="zone", value="eu")],
                        message=f"round {r}",
                    )
                )
                starts += 1
                watch_tally(started.revision, args.round_seconds)
                releases.AbortRelease(release_pb2.EndReleaseRequest(namespace=RELEASE_NS))
                time.sleep(args.round_seconds / 2)
            cpu = cpu_seconds(server.pid) - cpu0
            stop_puts = True
            thread.join()
            return cpu, starts

        # 1. baseline
        run_puts(args.rounds * args.round_seconds * 1.5)
        baseline = [r for batch in ask("report") for r in batch]
        # 2. releases, acknowledged
        cpu_ack, _ = release_rounds(ack=True)
        with_release = [r for batch in ask("report") for r in batch]
        metrics = server_metric(server.http_url, "configd_ack_latency_seconds")
        # 3. releases, not acknowledged
        cpu_noack, _ = release_rounds(ack=False)
        ask("report")
        ack_errors: dict[str, int] = {}
        for batch in ask("errors"):
            for key, count in batch.items():
                ack_errors[key] = ack_errors.get(key, 0) + count
        ask("stop")
        for proc in procs:
            proc.join(10)

    start_kind = 9
    ack_latency = [
        (acked - stamp) / 1e9
        for cid, ns, rev, kind, stamp, recv, acked in with_release
        if kind == start_kind and cid.startswith("eu-") and acked
    ]
    acks_sent = sum(1 for r in with_release if r[6])

    def outside_plain(rows: list[Any]) -> list[float]:
        return [
            (recv - stamp) / 1e9
            for cid, ns, rev, kind, stamp, recv, acked in rows
            if ns == PLAIN_NS and cid.startswith("us-")
        ]

    base, during = summarize(outside_plain(baseline)), summarize(outside_plain(with_release))
    within = sum(1 for s in ack_latency if s <= 2.0) / max(1, len(ack_latency))
    figures = {
        "slice_clients": args.slice,
        "outside_clients": args.outside,
        "rounds": args.rounds,
        "release_ack_latency_s": summarize(ack_latency),
        "release_acks": len(ack_latency),
        "acked_within_2s": within,
        "server_ack_latency_histogram": metrics,
        "outside_delivery_baseline_s": base,
        "outside_delivery_during_releases_s": during,
        "outside_p50_ratio": during["p50"] / base["p50"] if base.get("p50") else None,
        "outside_p99_ratio": during["p99"] / base["p99"] if base.get("p99") else None,
        "server_cpu_with_acks_s": cpu_ack,
        "server_cpu_without_acks_s": cpu_noack,
        "acks_sent": acks_sent,
        "server_cpu_per_ack_us": (cpu_ack - cpu_noack) / max(1, acks_sent) * 1e6,
        "ack_errors": ack_errors,
    }
    if args.json:
        print(json.dumps(figures))
        return
    lat = figures["release_ack_latency_s"]
    print(f"{args.slice} slice + {args.outside} outside clients, {args.rounds} release rounds")
    print(
        f"commit -> ack (release start, slice clients): p50 {lat['p50'] * 1e3:.1f} ms, "
        f"p99 {lat['p99'] * 1e3:.1f} ms, max {lat['max'] * 1e3:.1f} ms; "
        f"{within * 100:.1f} % within 2 s ({len(ack_latency)} acks)"
    )
    print(
        f"outside clients, bench/plain delivery: baseline p50 {base['p50'] * 1e3:.2f} ms "
        f"p99 {base['p99'] * 1e3:.2f} ms; during releases p50 {during['p50'] * 1e3:.2f} ms "
        f"p99 {during['p99'] * 1e3:.2f} ms (ratios {figures['outside_p50_ratio']:.2f}, "
        f"{figures['outside_p99_ratio']:.2f})"
    )
    print(
        f"server CPU: {cpu_ack:.2f} s with acks, {cpu_noack:.2f} s without, over "
        f"{acks_sent} acks: {figures['server_cpu_per_ack_us']:.0f} µs per ack "
        "(per client per revision)"
    )
    if ack_errors:
        print(f"Ack calls that failed (and were retried): {ack_errors}")


def server_metric(http_url: str, name: str) -> dict[str, float]:
    """count and sum of a histogram on /metrics."""
    import urllib.request

    text = urllib.request.urlopen(f"{http_url}/metrics", timeout=5).read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        for suffix in ("_count", "_sum"):
            if line.startswith(name + suffix + " ") or line.startswith(name + suffix + "{"):
                found[suffix[1:]] = float(line.rsplit(" ", 1)[1])
    if found.get("count"):
        found["mean_ms"] = found["sum"] / found["count"] * 1e3
    return found


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
