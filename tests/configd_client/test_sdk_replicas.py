"""The SDK across replicas (several `configd serve` on one store): a watch killed under it
resumes on another replica with every revision exactly once, reads and writes fail over, a
restarted replica is used again, and a DNS-style target with several addresses works."""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from configd_client import AsyncConfigClient, ConnectOptions, Snapshot, WatchStream
from configd_client._replicas import Replicas
from configd_client._retry import retry_call
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd_client.conftest import Writer
from tests.replicas import ReplicaSet, dead_addr
from tests.waits import until_async

PROGRESS = ("--watch-progress-interval", "0.2")


class Traffic(threading.Thread):
    """Puts to `namespace` through one replica until stopped; `written` are their revisions."""

    def __init__(self, addr: str, namespace: str) -> None:
        super().__init__(daemon=True)
        self.writer = Writer(addr)
        self.namespace = namespace
        self.written: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.wait(0.005):
                self.written.append(self.writer.put(self.namespace, "n", len(self.written)))
        finally:
            self.writer.close()

    def finish(self) -> list[int]:
        self.done.set()
        self.join()
        return self.written


def _start_on(addrs: list[str], index: int) -> random.Random:
    """A random source whose first choice among `addrs` is `index` (the replica to start at)."""
    seed = next(s for s in range(1000) if random.Random(s).randrange(len(addrs)) == index)
    return random.Random(seed)


async def test_watch_resumes_on_another_replica_when_its_replica_is_killed(
    tmp_path: Path,
) -> None:
    with ReplicaSet(tmp_path / "data", 3, *PROGRESS) as replicas:
        ns = "ha/watched"
        created = Writer(replicas.addrs[0]).create(ns)
        seen: list[int] = []
        stream = WatchStream(
            ConnectOptions(addr=replicas.addr),
            namespaces=[ns],
            min_revision=created,
            idle_timeout=5.0,
        )

        async def follow() -> None:
            async for message in stream:
                if message.WhichOneof("event") == "change_set":
                    seen.append(message.change_set.revision)

        async with stream:
            reader = asyncio.create_task(follow())
            await until_async(lambda: stream.revision >= created, "the snapshot", 10.0)
            watched = stream.replica
            traffic = Traffic(next(a for a in replicas.addrs if a != watched), ns)
            traffic.start()
            try:
                await until_async(lambda: len(seen) >= 20, "changes before the kill", 20.0)
                replicas.at(watched).kill()  # SIGKILL, while the writer keeps writing
                await until_async(lambda: len(traffic.written) >= 80, "writes after", 20.0)
            finally:
                written = await asyncio.to_thread(traffic.finish)
            await until_async(lambda: seen[-1:] == written[-1:], "every write seen", 20.0)
            reader.cancel()
        assert stream.replica != watched
        assert written == list(range(created + 1, written[-1] + 1))
        assert seen == written  # every revision once, in order: no gap, no duplicate


async def test_client_comes_back_to_a_restarted_replica(tmp_path: Path) -> None:
    with ReplicaSet(tmp_path / "data", 2, *PROGRESS) as replicas:
        first, second = replicas.servers
        ns = "ha/client"
        # Read your writes: the client may start on the other replica, which may not have
        # applied the create yet (without the floor it answers that the namespace is missing).
        created = Writer(first.grpc_addr).create(ns)
        changes: list[int] = []

        def note(old: Snapshot, new: Snapshot, keys: frozenset[str]) -> None:
            changes.append(new.revision)

        async with AsyncConfigClient(
            ns, addr=replicas.addr, idle_timeout=5.0, min_revision=created
        ) as client:
            client.on_change(note)
            written: list[int] = []
            # Whichever replica the client watches: first goes, then comes back, then second
            # goes, so the client ends on the restarted first replica.
            for down, up in ((first, second), (second, first)):
                down.kill()
                writer = Writer(up.grpc_addr)
                written += [writer.put(ns, "n", len(written) + i) for i in range(5)]
                writer.close()
                await client.wait_for_revision(written[-1], timeout=20.0)
                assert client.get("n") == len(written) - 1
                down.start()
        assert changes == written


async def test_reads_and_writes_move_past_a_dead_replica(tmp_path: Path) -> None:
    with ReplicaSet(tmp_path / "data", 1) as replicas:
        live = replicas.addrs[0]
        addrs = [dead_addr(), live]
        async with Replicas(
            ConnectOptions(addr=",".join(addrs)), rng=_start_on(addrs, 0)
        ) as chosen:
            assert chosen.current == addrs[0]
            stub = chosen.routed(pb_grpc.ConfigServiceStub)

            async def send(method: Any, request: Any) -> Any:
                return await retry_call(
                    request, lambda left: method(request, timeout=left), 10.0, replicas=chosen
                )

            created = await send(stub.CreateNamespace, pb.CreateNamespaceRequest(name="ha/rw"))
            assert chosen.current == live
            put = pb.PutRequest(namespace="ha/rw", key="k", value_json="1")
            revision = (await send(stub.Put, put)).revision
            assert put.request_id  # sent with an id, so a retry elsewhere stores nothing twice
            read = await send(
                stub.GetNamespace, pb.GetNamespaceRequest(name="ha/rw", min_revision=revision)
            )
        assert created.revision < revision == read.namespace.mod_revision


@pytest.mark.parametrize("form", ["dns", "ipv4"])
async def test_one_target_with_several_addresses(tmp_path: Path, form: str) -> None:
    """gRPC's own resolver: a DNS name (localhost here; several records work the same) and an
    address list with a dead address first, as a name with a dead record gives."""
    with ReplicaSet(tmp_path / "data", 1, *PROGRESS) as replicas:
        port = replicas.servers[0].grpc_port
        target = (
            f"dns:///localhost:{port}" if form == "dns" else f"ipv4:{dead_addr()},127.0.0.1:{port}"
        )
        writer = Writer(replicas.addrs[0])
        writer.create("ha/dns")
        async with AsyncConfigClient("ha/dns", addr=target) as client:
            revision = writer.put("ha/dns", "k", "v")
            await client.wait_for_revision(revision, timeout=10.0)
            assert client.get("k") == "v"
        writer.close()
