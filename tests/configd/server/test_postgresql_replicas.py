"""Several `configd serve --store DSN` replicas on one PostgreSQL database are one system
(issue 17): writes through any replica get one gap-free order, a watch moved between replicas
sees each change exactly once, compare-and-set has one winner per round, and a replica killed
while it holds the revision lock leaves no hole and does not block the others.

The replicas have data directories and ports of their own, as on separate machines; replica
"a" runs `--workers 2`, so watchers also move between the workers of one replica. The
consistency scenarios are replica_scenarios.py's, shared with the SQLite workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import psycopg
import pytest

from configd.storage.postgresql.follow import COMMITS_CHANNEL
from configd.testing import ConfigdProcess
from configd.testing_postgres import PostgresCluster
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.server.replica_scenarios import (
    TIMEOUT,
    cas_one_winner_per_round,
    random_writes_and_moving_watchers,
)
from tests.configd.server.worker_probes import aio_channel, until, worker_channel, worker_pids
from tests.waits import until_async

PROGRESS = ("--watch-progress-interval", "0.1")


@dataclass
class Replicas:
    """Replica a (two workers), b and c on one database."""

    dsn: str
    a: ConfigdProcess
    b: ConfigdProcess
    c: ConfigdProcess
    a_workers: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, postgres_cluster: PostgresCluster
) -> Iterator[Replicas]:
    """One set of replicas for the module (starting them takes seconds); tests use their own
    namespaces. Progress every 0.1 s: a watcher soon learns it has seen up to the head."""
    if not postgres_cluster.running():
        postgres_cluster.start()
    dsn = postgres_cluster.create_database()
    root = tmp_path_factory.mktemp("replicas")
    with (
        ConfigdProcess(root / "a", "--store", dsn, *PROGRESS, workers=2) as a,
        ConfigdProcess(root / "b", "--store", dsn, *PROGRESS) as b,
        ConfigdProcess(root / "c", "--store", dsn, *PROGRESS) as c,
    ):
        until(lambda: len(worker_pids(a)) == 2, "both workers of replica a listed")
        yield Replicas(dsn, a, b, c, sorted(worker_pids(a)))


@pytest.fixture
async def stubs(replicas: Replicas) -> AsyncIterator[dict[str, pb_grpc.ConfigServiceStub]]:
    """A stub per server: each worker of a through its own socket, b and c by their ports."""
    channels = {
        **{f"a/{pid}": worker_channel(replicas.a, pid) for pid in replicas.a_workers},
        "b": aio_channel(replicas.b),
        "c": aio_channel(replicas.c),
    }
    try:
        yield {name: pb_grpc.ConfigServiceStub(ch) for name, ch in channels.items()}
    finally:
        for ch in channels.values():
            await ch.close(None)


async def test_random_writes_and_moving_watchers_agree_on_every_replica(
    stubs: dict[str, pb_grpc.ConfigServiceStub], seed: int
) -> None:
    await random_writes_and_moving_watchers(stubs, list(stubs.values()), seed, writes=30)


async def test_cas_through_every_replica_one_winner_per_round(
    replicas: Replicas, stubs: dict[str, pb_grpc.ConfigServiceStub]
) -> None:
    # 40 clients, each on a connection of its own, spread over every worker and replica.
    def open_channel(i: int) -> grpc.aio.Channel:
        where = i % 4
        if where < 2:
            return worker_channel(replicas.a, replicas.a_workers[where])
        return aio_channel(replicas.b if where == 2 else replicas.c)

    channels = [open_channel(i) for i in range(40)]
    await cas_one_winner_per_round(channels, list(stubs.values()))


async def test_a_write_on_one_worker_reaches_a_watch_on_the_other(
    stubs: dict[str, pb_grpc.ConfigServiceStub],
) -> None:
    first, second = (stubs[name] for name in stubs if name.startswith("a/"))
    created = await first.CreateNamespace(pb.CreateNamespaceRequest(name="workers/w"))
    call = second.Watch(
        pb.WatchRequest(namespaces=["workers/w"], start_revision=created.revision + 1)
    )
    try:
        written = await first.Put(pb.PutRequest(namespace="workers/w", key="k", value_json="1"))
        async with asyncio.timeout(TIMEOUT):
            async for message in call:
                if message.HasField("change_set"):
                    assert message.change_set.revision == written.revision
                    assert [c.new_value_json for c in message.change_set.changes] == ["1"]
                    break
    finally:
        call.cancel()


# -- SIGKILL while holding the revision lock ------------------------------------------------

LOCK_TIMEOUT = 5.0  # the survivor's --commit-timeout: how long it waits for its write turn
KILL_ROUNDS = 4
KILL_NAMESPACE = "kill/big"
# A held revision lock: a write transaction's lock on the `head` row (SELECT ... FOR UPDATE
# takes ROW SHARE on the table, held to COMMIT). Only the victim writes, so any is its.
LOCK_HELD_SQL = (
    "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
    " WHERE c.relname = 'head' AND l.mode = 'RowShareLock' AND l.granted"
)


def big_txn(request_id: str, rng: random.Random) -> pb.TxnRequest:
    """A transaction of many keys with large values: its commit takes a while."""
    filler = "x" * 2000
    ops = [
        pb.TxnOp(put=pb.TxnPut(key=f"k{i}", value_json=json.dumps(f"{request_id} {filler}")))
        for i in rng.sample(range(400), 60)
    ]
    return pb.TxnRequest(namespace=KILL_NAMESPACE, ops=ops, request_id=request_id)


@dataclass
class KillRound:
    sent: dict[str, pb.TxnRequest] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)


async def _write_until_killed(
    stub: pb_grpc.ConfigServiceStub, name: str, rng: random.Random, done: KillRound
) -> None:
    for n in range(10**6):
        request = big_txn(f"{name}-{n}", rng)
        done.sent[request.request_id] = request
        try:
            reply = await stub.Txn(request, timeout=TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                return  # the victim died: not acknowledged (it may have committed)
            raise
        done.acked[request.request_id] = reply.revision


def _kill_holding_the_lock(dsn: str, victim: ConfigdProcess, deadline: float) -> None:
    """SIGKILL `victim` the moment its write transaction is seen holding the head row."""
    with psycopg.connect(dsn, autocommit=True) as db:
        end = time.monotonic() + deadline
        while not db.execute(LOCK_HELD_SQL).fetchall():
            assert time.monotonic() < end, f"no write transaction seen within {deadline} s"
        victim.kill()


def _kill_just_committed(dsn: str, victim: ConfigdProcess, deadline: float) -> None:
    """SIGKILL `victim` the moment one of its commits is announced (its NOTIFY arrives at
    COMMIT), likely before it answered: a write stored but never acknowledged."""
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"LISTEN {COMMITS_CHANNEL}")
        for _ in db.notifies(timeout=deadline, stop_after=1):
            victim.kill()
    assert victim.process is None, f"no commit announced within {deadline} s"


def _revision_log(dsn: str) -> tuple[int, int, int, int]:
    """(count, min, max) of the revisions table, and the head counter."""
    with psycopg.connect(dsn, autocommit=True) as db:
        count, low, high = db.execute(
            "SELECT count(*), min(revision), max(revision) FROM revisions"
        ).fetchone() or (0, 0, 0)
        (head,) = db.execute("SELECT revision FROM head").fetchone() or (0,)
    return int(count), int(low), int(high), int(head)


def _stored_once(dsn: str, request_id: str) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as db:
        rows = db.execute(
            "SELECT revision FROM revisions WHERE request_id = %s", (request_id,)
        ).fetchall()
    return [int(row[0]) for row in rows]


async def test_replica_killed_holding_the_revision_lock_leaves_no_hole(
    tmp_path: Path, pg_dsn: str, seed: int
) -> None:
    rng = random.Random(seed)
    victim = ConfigdProcess(tmp_path / "victim", "--store", pg_dsn)
    survivor = ConfigdProcess(
        tmp_path / "survivor", "--store", pg_dsn, "--commit-timeout", str(LOCK_TIMEOUT)
    )
    seen: list[int] = []
    with survivor:
        async with aio_channel(survivor) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            created = await stub.CreateNamespace(pb.CreateNamespaceRequest(name=KILL_NAMESPACE))
            seen.append(created.revision)
            # A watch on the survivor throughout: it must see every revision once, in order.
            watching = asyncio.create_task(_watch_everything(stub, created.revision + 1, seen))
            try:
                for round_ in range(KILL_ROUNDS):
                    await _kill_round(round_, rng, victim, stub, pg_dsn)
                    count, low, high, head = _revision_log(pg_dsn)
                    assert (count, low, high) == (head, 1, head), "a hole in the revision log"
                    await _seen_up_to(seen, head)
                assert seen == list(range(1, head + 1)), "the watch saw a gap or a duplicate"
            finally:
                watching.cancel()
                victim.kill()


async def _kill_round(
    round_: int,
    rng: random.Random,
    victim: ConfigdProcess,
    survivor: pb_grpc.ConfigServiceStub,
    dsn: str,
) -> None:
    """Big transactions through the victim from 3 clients; SIGKILL it at a random moment,
    while its write transaction holds the head row (even rounds) or just as a commit lands
    (odd rounds); then the survivor writes within the lock timeout, and every unacknowledged
    write retried there (same request id) is stored once, with the revision the retry got
    (its original one if it had committed)."""
    await asyncio.to_thread(victim.start)
    done = KillRound()
    async with aio_channel(victim) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        writers = [
            asyncio.create_task(
                _write_until_killed(stub, f"r{round_}w{i}", random.Random(rng.random()), done)
            )
            for i in range(3)
        ]
        await until_async(lambda: bool(done.acked), "a first acknowledged write", TIMEOUT)
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        # Even rounds kill inside the commit (the lock held), odd ones right after it.
        kill = _kill_holding_the_lock if round_ % 2 == 0 else _kill_just_committed
        await asyncio.to_thread(kill, dsn, victim, TIMEOUT)
        killed_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*writers), TIMEOUT)
    # The victim's lock went with its connection: the survivor's write turn comes in time.
    await survivor.Put(
        pb.PutRequest(namespace=KILL_NAMESPACE, key="after", value_json=str(round_)),
        timeout=LOCK_TIMEOUT,
    )
    assert time.monotonic() - killed_at < LOCK_TIMEOUT
    unacked = [rid for rid in done.sent if rid not in done.acked]
    assert unacked, "the kill caught no write in flight"
    for request_id in unacked:
        request = done.sent[request_id]
        first = (await survivor.Txn(request, timeout=TIMEOUT)).revision
        again = (await survivor.Txn(request, timeout=TIMEOUT)).revision
        assert first == again
        assert _stored_once(dsn, request_id) == [first]
    for request_id, revision in done.acked.items():
        assert _stored_once(dsn, request_id) == [revision]


async def _seen_up_to(seen: list[int], head: int) -> None:
    await until_async(lambda: seen[-1] >= head, f"the watch at revision {head}", TIMEOUT)


async def _watch_everything(stub: pb_grpc.ConfigServiceStub, start: int, seen: list[int]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        async for message in stub.Watch(pb.WatchRequest(prefixes=[""], start_revision=start)):
            if message.HasField("change_set"):
                seen.append(message.change_set.revision)
