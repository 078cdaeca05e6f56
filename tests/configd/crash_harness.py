"""Kill configd with SIGKILL under load and prove that nothing acknowledged is lost.

Shared by tests/configd/test_crash_safety.py (a few rounds) and bench/crash_rounds.py (many).
Each round: concurrent writers put values over gRPC (recording every acknowledged revision),
watchers follow every namespace, and the server is killed with SIGKILL at a random moment.
Then, before the restart, the database is opened read-only with sqlite3: `integrity_check` is
ok, every acknowledged write is there with its revision, key and value, and revisions are
contiguous. After the restart, over gRPC: the revision is the one on disk, the history of
all namespaces together holds every revision exactly once, every key holds at least its last
acknowledged write, and the watchers, resuming from their last revision, have seen every
revision from 1 exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio

from configd.testing import ConfigdProcess
from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

NAMESPACE_PREFIX = "crash/"


@dataclass(frozen=True, slots=True)
class Ack:
    namespace: str
    key: str
    value_json: str


@dataclass(slots=True)
class RoundReport:
    round: int
    acked: int
    revision: int
    kill_after: float
    unacked_committed: int


@dataclass
class CrashHarness:
    data_dir: Path
    writers: int = 4
    watchers: int = 2
    keys_per_writer: int = 8
    seed: int | None = None
    acks: dict[int, Ack] = field(default_factory=dict)
    seen: list[list[int]] = field(default_factory=list)
    reports: list[RoundReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = ConfigdProcess(self.data_dir)
        self.rng = random.Random(self.seed)
        self.seen = [[] for _ in range(self.watchers)]
        self._counter = 0
        self._acked = asyncio.Event()

    # -- load ---------------------------------------------------------------------------------

    async def _writer(self, stub: pb_grpc.ConfigServiceStub, index: int) -> None:
        namespace = f"{NAMESPACE_PREFIX}w{index}"
        while True:
            self._counter += 1
            key = f"k{self._counter % self.keys_per_writer}"
            value_json = json.dumps({"writer": index, "n": self._counter})
            try:
                reply = await stub.Put(
                    pb.PutRequest(namespace=namespace, key=key, value_json=value_json),
                    timeout=20,
                )
            except grpc.aio.AioRpcError:
                return  # the server died: this write was not acknowledged
            assert reply.revision not in self.acks, f"revision {reply.revision} acked twice"
            self.acks[reply.revision] = Ack(namespace, key, value_json)
            self._acked.set()

    async def _watcher(self, stub: pb_grpc.ConfigServiceStub, index: int, until: int) -> None:
        """Follow every namespace from the last revision seen + 1 (until `until`, if > 0)."""
        seen = self.seen[index]
        start = seen[-1] + 1 if seen else 1
        call = stub.Watch(pb.WatchRequest(prefixes=[""], start_revision=start))
        try:
            async for message in call:
                if message.HasField("change_set"):
                    seen.append(message.change_set.revision)
                elif message.HasField("snapshot"):
                    raise AssertionError("a resumed watch got a snapshot: history was lost")
                if until and seen and seen[-1] >= until:
                    return
        except grpc.aio.AioRpcError as exc:
            # Before the kill the stream ends with the connection; after it, it must not end.
            if until or exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise
        finally:
            call.cancel()

    # -- rounds -------------------------------------------------------------------------------

    async def setup(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.server.start()
        async with grpc.aio.insecure_channel(self.server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            for index in range(self.writers):
                await stub.CreateNamespace(
                    pb.CreateNamespaceRequest(name=f"{NAMESPACE_PREFIX}w{index}")
                )

    async def run_round(self, number: int, *, min_s: float = 0.2, max_s: float = 1.2) -> None:
        acked_before = len(self.acks)
        self._acked = asyncio.Event()
        async with grpc.aio.insecure_channel(self.server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            watchers = [
                asyncio.create_task(self._watcher(stub, i, 0)) for i in range(self.watchers)
            ]
            writers = [asyncio.create_task(self._writer(stub, i)) for i in range(self.writers)]
            # Kill at a random moment once writes are flowing.
            await asyncio.wait_for(self._acked.wait(), 20)
            kill_after = self.rng.uniform(min_s, max_s)
            await asyncio.sleep(kill_after)
            await asyncio.to_thread(self.server.kill)
            await asyncio.wait_for(asyncio.gather(*writers, *watchers), 30)
        on_disk = self.check_database()
        await asyncio.to_thread(self.server.start)
        await self.check_server(on_disk)
        self.reports.append(
            RoundReport(
                round=number,
                acked=len(self.acks) - acked_before,
                revision=on_disk,
                kill_after=round(kill_after, 3),
                unacked_committed=on_disk - max(self.acks, default=0),
            )
        )

    def check_database(self) -> int:
        """Read-only checks of the killed server's database; returns its revision."""
        path = self.data_dir / "configd.db"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            count, low, high = db.execute(
                "SELECT count(*), min(revision), max(revision) FROM revisions"
            ).fetchone()
            assert (count, low) == (high, 1), f"revisions not contiguous: {count} in {low}..{high}"
            stored = {
                revision: Ack(namespace, key, json.dumps(json.loads(value)))
                for revision, namespace, key, value in db.execute(
                    "SELECT revision, namespace, key, new_value FROM changes"
                    " WHERE namespace LIKE 'crash/%'"
                )
            }
        missing = {rev: ack for rev, ack in self.acks.items() if stored.get(rev) != ack}
        assert not missing, f"acknowledged writes lost or changed: {sorted(missing)[:10]}"
        assert high >= max(self.acks, default=0)
        return int(high)

    async def check_server(self, on_disk: int) -> None:
        async with grpc.aio.insecure_channel(self.server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            status = await admin_pb2_grpc.AdminServiceStub(channel).GetStatus(
                admin_pb2.GetStatusRequest()
            )
            assert status.revision == on_disk, (status.revision, on_disk)
            revisions: list[int] = []
            latest: dict[tuple[str, str], int] = {}
            for index in range(self.writers):
                namespace = f"{NAMESPACE_PREFIX}w{index}"
                token = ""
                while True:
                    page = await stub.History(
                        pb.HistoryRequest(namespace=namespace, page_size=1000, page_token=token)
                    )
                    revisions.extend(entry.revision for entry in page.entries)
                    token = page.next_page_token
                    if not token:
                        break
                reply = await stub.GetNamespace(pb.GetNamespaceRequest(name=namespace))
                document = json.loads(reply.document_json or "{}")
                for meta in reply.keys:
                    latest[(namespace, meta.key)] = meta.mod_revision
                    value = json.dumps(document[meta.key])
                    acked = self.acks.get(meta.mod_revision)
                    if acked is not None:
                        assert json.loads(acked.value_json) == json.loads(value)
            assert sorted(revisions) == list(range(1, on_disk + 1)), "history has gaps"
            for revision, ack in self.acks.items():
                assert latest.get((ack.namespace, ack.key), 0) >= revision
            # Watchers resume from their last revision and catch up to the current one.
            await asyncio.wait_for(
                asyncio.gather(
                    *(self._watcher(stub, i, on_disk) for i in range(self.watchers) if on_disk)
                ),
                30,
            )
        for seen in self.seen:
            assert seen == list(range(1, len(seen) + 1)), "a watcher saw a gap or a duplicate"
            assert len(seen) == on_disk

    def close(self) -> None:
        self.server.stop()
