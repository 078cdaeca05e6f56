"""The consistency scenarios that several servers sharing one store must pass, whatever they
are: the workers of one `configd serve --workers N` over SQLite (test_workers_consistency.py)
or replicas on one PostgreSQL database (test_postgresql_replicas.py).

A scenario gets stubs by name, one per server, each certain to reach that server (a worker's
own socket, a replica's own port), so a watcher's move is certain to change server. The random
choices come from one seed (the `seed` fixture, conftest.py), noted on any failure.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

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
    """One watch of a selection, moved between servers, rebuilding the documents it sees."""

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
        stubs: Mapping[str, pb_grpc.ConfigServiceStub],
        rng: random.Random,
        head: asyncio.Future[int],
    ) -> None:
        """Watch until `head` is known and seen; move to another server every few messages."""
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


async def random_writes_and_moving_watchers(
    stubs: Mapping[str, pb_grpc.ConfigServiceStub],
    writers: Sequence[pb_grpc.ConfigServiceStub],
    seed: int,
    *,
    writes: int = 40,
    watchers: int = 6,
) -> None:
    """Each of `writers` makes `writes` random writes while `watchers` watchers move between
    `stubs`: the acknowledged revisions have no gap, each watcher sees exactly the change sets
    of its selection after its start (none missing, none twice), and every server then holds
    the documents the watchers rebuilt."""
    rng = random.Random(seed)
    acked: dict[int, str] = {}
    first = next(iter(stubs.values()))
    base = (await first.ListNamespaces(pb.ListNamespacesRequest())).revision
    for name in NAMESPACES:
        acked[(await first.CreateNamespace(pb.CreateNamespaceRequest(name=name))).revision] = name
    moving = [
        Watcher(*rng.choice(SELECTIONS), snapshot_first=rng.random() < 0.5) for _ in range(watchers)
    ]
    head: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    watching = [
        asyncio.create_task(w.run(stubs, random.Random(rng.random()), head)) for w in moving
    ]
    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    write_randomly(stub, random.Random(rng.random()), writes, acked)
                    for stub in writers
                )
            ),
            TIMEOUT,
        )
        last = max(acked)
        assert sorted(acked) == list(range(base + 1, last + 1)), "a gap in the revisions"
        head.set_result(last)
        await asyncio.wait_for(asyncio.gather(*watching), TIMEOUT)
        for watcher in moving:
            selected = [r for r, name in sorted(acked.items()) if watcher.selects(name)]
            expected = [r for r in selected if r > watcher.snapshot_revision]
            assert watcher.revisions == expected, (watcher, "gap or duplicate")
            assert watcher.moves > 0
            for name in NAMESPACES:
                if not watcher.selects(name):
                    continue
                for server, stub in stubs.items():
                    reply = await stub.GetNamespace(
                        pb.GetNamespaceRequest(name=name, min_revision=last)
                    )
                    assert reply.current_revision >= last
                    assert json.loads(reply.document_json or "{}") == watcher.docs[name], (
                        name,
                        server,
                    )
                # The same document read as of the head revision (from history).
                at_head = await first.GetNamespace(pb.GetNamespaceRequest(name=name, revision=last))
                assert json.loads(at_head.document_json or "{}") == watcher.docs[name]
    except BaseException as exc:
        raise with_seed(seed, exc) from None
    finally:
        for task in watching:
            task.cancel()


async def cas_one_winner_per_round(
    channels: Sequence[grpc.aio.Channel],
    readers: Sequence[pb_grpc.ConfigServiceStub],
    *,
    rounds: int = 5,
    namespace: str = "cas",
) -> None:
    """A client on each of `channels` (each a connection of its own, spread over the
    servers; closed at the end) races to compare-and-set one key, `rounds` times: exactly
    one wins each round, every loser is refused with FAILED_PRECONDITION and takes no
    revision, and every one of `readers` then reads the winner's value."""
    try:
        clients = [pb_grpc.ConfigServiceStub(ch) for ch in channels]
        await _cas_rounds(clients, readers, rounds, namespace)
    finally:
        for ch in channels:
            await ch.close(None)


async def _cas_rounds(
    clients: Sequence[pb_grpc.ConfigServiceStub],
    readers: Sequence[pb_grpc.ConfigServiceStub],
    rounds: int,
    namespace: str,
) -> None:
    first = readers[0]
    await first.CreateNamespace(pb.CreateNamespaceRequest(name=namespace))
    current = (
        await first.Put(pb.PutRequest(namespace=namespace, key="lock", value_json="0"))
    ).revision
    for round_ in range(rounds):
        condition = pb.Precondition(
            key_mod_revision=pb.KeyModRevision(key="lock", mod_revision=current)
        )
        outcomes = await asyncio.gather(
            *(
                client.Put(
                    pb.PutRequest(
                        namespace=namespace,
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
        # Every server reads the winner's value once it has applied its revision.
        for stub in readers:
            got = await stub.Get(
                pb.GetRequest(namespace=namespace, key="lock", min_revision=current)
            )
            assert (got.value_json, got.meta.mod_revision) == (str(round_ * 100 + index), current)
