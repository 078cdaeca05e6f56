"""`configd serve --workers N` is one system: writes through any worker get one gap-free order,
a watch moved between workers sees it exactly once, compare-and-set has one winner (issue 16).

Writers and watchers each have a channel of their own; a watcher moves to a chosen worker
through that worker's own gRPC socket (worker_probes.worker_channel), so a move is certain to
change worker. The random choices come from one seed, printed with any failure
(rerun with CONFIGD_TEST_SEED=<seed>).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.server.worker_probes import (
    aio_channel,
    until,
    worker_channel,
    worker_pids,
)

WORKERS = 3
NAMESPACES = ("rnd/a", "rnd/b", "rnd/c", "other/x")
# What a watcher may select: exact names and/or prefixes.
SELECTIONS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("rnd/a",), ()),
    (("rnd/a", "rnd/b"), ()),
    ((), ("rnd/",)),
    (("rnd/c",), ("other/",)),
    ((), ("rnd/", "other/")),
)
TIMEOUT = 30.0


@pytest.fixture
def seed() -> int:
    """The run's random seed: CONFIGD_TEST_SEED, else a fresh one (printed, and noted on the
    failure's exception)."""
    value = int(os.environ.get("CONFIGD_TEST_SEED") or random.randrange(1 << 32))
    print(f"random seed {value} (rerun with CONFIGD_TEST_SEED={value})")
    return value


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """One supervisor for the module (starting workers takes seconds); tests use their own
    namespaces. Progress every 0.1 s: a watcher soon learns it has seen up to the head."""
    data = tmp_path_factory.mktemp("workers") / "data"
    with ConfigdProcess(data, "--watch-progress-interval", "0.1", workers=WORKERS) as server:
        until(lambda: len(worker_pids(server)) == WORKERS, "every worker listed")
        yield server


@pytest.fixture
async def stubs(workers: ConfigdProcess) -> AsyncIterator[dict[int, pb_grpc.ConfigServiceStub]]:
    """A stub per worker, by pid, each through that worker's own socket."""
    channels = {pid: worker_channel(workers, pid) for pid in sorted(worker_pids(workers))}
    try:
        yield {pid: pb_grpc.ConfigServiceStub(ch) for pid, ch in channels.items()}
    finally:
        for ch in channels.values():
            await ch.close(None)


def with_seed(seed: int, exc: BaseException) -> BaseException:
    exc.add_note(f"random seed {seed}: rerun with CONFIGD_TEST_SEED={seed}")
    return exc


# -- the randomized test -------------------------------------------------------------------


def random_value(rng: random.Random) -> str:
    choice = rng.randrange(4)
    if choice == 0:
        return json.dumps(rng.randrange(-(10**18), 10**18))
    if choice == 1:
        return json.dumps("".join(rng.choice("abcxyz é") for _ in range(rng.randrange(8))))
    if choice == 2:
        return json.dumps([rng.randrange(10) for _ in range(rng.randrange(4))])
    return json.dumps({"on": rng.random() < 0.5, "n": rng.randrange(100)})


async def write_randomly(
    stub: pb_grpc.ConfigServiceStub, rng: random.Random, count: int, acked: dict[int, str]
) -> None:
    """`count` random puts, deletes and transactions; acked[revision] = namespace."""
    for _ in range(count):
        namespace = rng.choice(NAMESPACES)
        key = f"k{rng.randrange(6)}"
        op = rng.random()
        try:
            if op < 0.6:
                reply = await stub.Put(
                    pb.PutRequest(namespace=namespace, key=key, value_json=random_value(rng))
                )
            elif op < 0.75:
                reply = await stub.Delete(pb.DeleteRequest(namespace=namespace, key=key))
            else:
                keys = rng.sample([f"k{i}" for i in range(6)], rng.randrange(1, 4))
                ops = [pb.TxnOp(put=pb.TxnPut(key=k, value_json=random_value(rng))) for k in keys]
                reply = await stub.Txn(pb.TxnRequest(namespace=namespace, ops=ops))
        except grpc.aio.AioRpcError as exc:
            # Deleting a key that is not there commits nothing: the only refusal expected.
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            continue
        assert reply.revision not in acked, f"revision {reply.revision} acknowledged twice"
        acked[reply.revision] = namespace


@dataclass
class Watcher:
    """One watch of a selection, moved between workers, rebuilding the documents it sees."""

    namespaces: tuple[str, ...]
    prefixes: tuple[str, ...]
    snapshot_first: bool
    last_seen: int = 0  # the highest revision the stream told of (change set or progress)
    snapshot_revision: int = 0
    revisions: list[int] = field(default_factory=list)  # change-set revisions, as received
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    moves: int = 0

    def selects(self, name: str) -> bool:
        return name in self.namespaces or any(name.startswith(p) for p in self.prefixes)

    def apply(self, message: Any) -> None:
        event = message.WhichOneof("event")
        if event == "snapshot":
            assert self.last_seen == 0, "a snapshot after changes"
            snap = message.snapshot
            self.snapshot_revision = self.last_seen = snap.revision
            for item in snap.namespaces:
                self.docs[item.namespace.name] = json.loads(item.document_json or "{}")
        elif event == "change_set":
            cs = message.change_set
            assert cs.revision > self.last_seen, (cs.revision, self.last_seen)
            assert self.selects(cs.namespace), cs.namespace
            self.revisions.append(cs.revision)
            self.last_seen = cs.revision
            if cs.kind == pb.WRITE_KIND_DELETE_NAMESPACE:
                self.docs.pop(cs.namespace, None)
                return
            doc = self.docs.setdefault(cs.namespace, {})
            for change in cs.changes:
                if change.HasField("new_value_json"):
                    doc[change.key] = json.loads(change.new_value_json)
                else:
                    doc.pop(change.key, None)
        elif event == "progress":
            assert message.progress.revision >= self.last_seen
            self.last_seen = message.progress.revision

    async def run(
        self,
        stubs: dict[int, pb_grpc.ConfigServiceStub],
        rng: random.Random,
        head: asyncio.Future[int],
    ) -> None:
        """Watch until `head` is known and seen; move to another worker every few messages."""
        pids = sorted(stubs)
        pid = rng.choice(pids)
        while True:
            if self.last_seen == 0 and self.snapshot_first:
                request = pb.WatchRequest(
                    namespaces=self.namespaces, prefixes=self.prefixes, send_snapshot=True
                )
            else:
                request = pb.WatchRequest(
                    namespaces=self.namespaces,
                    prefixes=self.prefixes,
                    start_revision=self.last_seen + 1,
                )
            call = stubs[pid].Watch(request)
            budget = rng.randrange(2, 12)  # messages before the next move
            try:
                async for message in call:
                    self.apply(message)
                    if head.done() and self.last_seen >= head.result():
                        return
                    budget -= 1
                    if budget == 0:
                        break
            finally:
                call.cancel()
            pid = rng.choice([p for p in pids if p != pid])
            self.moves += 1


async def test_random_writes_and_moving_watchers_agree_on_every_worker(
    workers: ConfigdProcess, stubs: dict[int, pb_grpc.ConfigServiceStub], seed: int
) -> None:
    rng = random.Random(seed)
    acked: dict[int, str] = {}
    first = next(iter(stubs.values()))
    base = (await first.ListNamespaces(pb.ListNamespacesRequest())).revision
    for name in NAMESPACES:
        acked[(await first.CreateNamespace(pb.CreateNamespaceRequest(name=name))).revision] = name
    watchers = [
        Watcher(*rng.choice(SELECTIONS), snapshot_first=rng.random() < 0.5) for _ in range(6)
    ]
    head: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    watching = [
        asyncio.create_task(w.run(stubs, random.Random(rng.random()), head)) for w in watchers
    ]
    # Writers: one per worker through its socket, one through the shared port.
    writer_channels = [aio_channel(workers)]
    writer_stubs = [*stubs.values(), pb_grpc.ConfigServiceStub(writer_channels[0])]
    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    write_randomly(stub, random.Random(rng.random()), 40, acked)
                    for stub in writer_stubs
                )
            ),
            TIMEOUT,
        )
        last = max(acked)
        assert sorted(acked) == list(range(base + 1, last + 1)), "a gap in the revisions"
        head.set_result(last)
        await asyncio.wait_for(asyncio.gather(*watching), TIMEOUT)
        for watcher in watchers:
            selected = [r for r, name in sorted(acked.items()) if watcher.selects(name)]
            expected = [r for r in selected if r > watcher.snapshot_revision]
            assert watcher.revisions == expected, (watcher, "gap or duplicate")
            assert watcher.moves > 0
            for name in NAMESPACES:
                if not watcher.selects(name):
                    continue
                for pid, stub in stubs.items():
                    reply = await stub.GetNamespace(
                        pb.GetNamespaceRequest(name=name, min_revision=last)
                    )
                    assert reply.current_revision >= last
                    assert json.loads(reply.document_json or "{}") == watcher.docs[name], (
                        name,
                        pid,
                    )
                # The same document read as of the head revision (from history).
                at_head = await first.GetNamespace(pb.GetNamespaceRequest(name=name, revision=last))
                assert json.loads(at_head.document_json or "{}") == watcher.docs[name]
    except BaseException as exc:
        raise with_seed(seed, exc) from None
    finally:
        for task in watching:
            task.cancel()
        for ch in writer_channels:
            await ch.close(None)


# -- compare-and-set from many clients ----------------------------------------------------


async def test_fifty_clients_cas_one_key_through_every_worker_one_winner_per_round(
    workers: ConfigdProcess, stubs: dict[int, pb_grpc.ConfigServiceStub]
) -> None:
    first = next(iter(stubs.values()))
    await first.CreateNamespace(pb.CreateNamespaceRequest(name="cas"))
    current = (await first.Put(pb.PutRequest(namespace="cas", key="lock", value_json="0"))).revision
    # 50 clients, each with a connection of its own; some through the shared port (the kernel
    # picks the worker), most pinned to a worker through its socket, so every worker races.
    pids = sorted(stubs)
    channels = [
        aio_channel(workers) if i % 5 == 0 else worker_channel(workers, pids[i % len(pids)])
        for i in range(50)
    ]
    clients = [pb_grpc.ConfigServiceStub(ch) for ch in channels]
    try:
        for round_ in range(5):
            condition = pb.Precondition(
                key_mod_revision=pb.KeyModRevision(key="lock", mod_revision=current)
            )
            outcomes = await asyncio.gather(
                *(
                    client.Put(
                        pb.PutRequest(
                            namespace="cas",
                            key="lock",
                            value_json=str(round_ * 100 + i),
                            preconditions=[condition],
                        ),
                        timeout=TIMEOUT,
                    )
                    for i, client in enumerate(clients)
                ),
                return_exceptions=True,
            )
            winners = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, pb.WriteResponse)]
            assert len(winners) == 1, outcomes
            for outcome in outcomes:
                if not isinstance(outcome, pb.WriteResponse):
                    assert isinstance(outcome, grpc.aio.AioRpcError), outcome
                    assert outcome.code() == grpc.StatusCode.FAILED_PRECONDITION, outcome
            ((index, reply),) = winners
            assert reply.revision == current + 1  # no loser took a revision
            current = reply.revision
            # Every worker reads the winner's value once it has applied its revision.
            for stub in stubs.values():
                got = await stub.Get(
                    pb.GetRequest(namespace="cas", key="lock", min_revision=current)
                )
                assert (got.value_json, got.meta.mod_revision) == (
                    str(round_ * 100 + index),
                    current,
                )
    finally:
        for ch in channels:
            await ch.close(None)
