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

With `workers=N` (`configd serve --workers N`) there are two kinds of round. `run_round` kills
the whole server (every worker and the supervisor, SIGKILL) as above. `run_worker_round` kills
one worker while writers push through every worker: the writers and watchers on it move to
another worker on a new connection (a watch resumes at last seen + 1), a reader pinned to a
surviving worker must not see one failure, the supervisor must bring a replacement up, and
every acknowledged write must be readable with the revision log contiguous, all without a
restart. `check_database` after `close()` then checks the file itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio

from configd.testing import ConfigdProcess
from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.server.worker_probes import OWN_CONNECTION, worker_channel, worker_pids

NAMESPACE_PREFIX = "crash/"
# How a call ends when the worker serving it is killed.
LOST = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


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
    victims: tuple[int, ...] = ()  # worker rounds: the workers killed (else the server)
    replaced_after: float = 0.0  # worker rounds: from the kill to the replacement listed
    reads: int = 0  # worker rounds: reads the pinned reader made on a surviving worker


@dataclass
class CrashHarness:
    data_dir: Path
    writers: int = 4
    watchers: int = 2
    keys_per_writer: int = 8
    seed: int | None = None
    workers: int = 1
    pause: float = 0.0  # worker rounds: seconds each writer waits between its writes
    acks: dict[int, Ack] = field(default_factory=dict)
    seen: list[list[int]] = field(default_factory=list)
    reports: list[RoundReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = ConfigdProcess(self.data_dir, workers=self.workers)
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
            await asyncio.to_thread(self.kill_everything)
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

    def kill_everything(self) -> None:
        """SIGKILL the server: with workers, each worker and the supervisor (killing the
        supervisor alone would have its workers stop gracefully, which is no crash)."""
        if self.workers > 1:
            for pid in self._live_workers():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.server.kill()

    def _live_workers(self) -> set[int]:
        """The workers' pids from their status files (no HTTP: a killed worker may hold a
        connection the kernel handed it)."""
        pids = set()
        for path in (self.data_dir / "run").glob("worker-*.json"):
            pid = int(path.stem.removeprefix("worker-"))
            if Path(f"/proc/{pid}").exists():
                pids.add(pid)
        return pids

    # -- worker rounds ------------------------------------------------------------------------

    async def _moving_writer(self, index: int, stop: asyncio.Event) -> None:
        """Put until `stop`; after a failure (its worker killed) carry on over a new
        connection, which the kernel gives to a live worker."""
        namespace = f"{NAMESPACE_PREFIX}w{index}"
        while not stop.is_set():
            async with grpc.aio.insecure_channel(
                self.server.grpc_addr, options=[OWN_CONNECTION]
            ) as channel:
                stub = pb_grpc.ConfigServiceStub(channel)
                while not stop.is_set():
                    self._counter += 1
                    key = f"k{self._counter % self.keys_per_writer}"
                    value_json = json.dumps({"writer": index, "n": self._counter})
                    try:
                        reply = await stub.Put(
                            pb.PutRequest(namespace=namespace, key=key, value_json=value_json),
                            timeout=20,
                            wait_for_ready=True,
                        )
                    except grpc.aio.AioRpcError as exc:
                        # Killed mid-call: not acknowledged (it may or may not have committed).
                        if exc.code() not in LOST:
                            raise
                        break
                    assert reply.revision not in self.acks, f"revision {reply.revision} twice"
                    self.acks[reply.revision] = Ack(namespace, key, value_json)
                    self._acked.set()
                    # A breath between writes: the replacement worker needs the CPU to start.
                    await asyncio.sleep(self.pause)

    async def _moving_watcher(self, index: int, until: asyncio.Future[int]) -> None:
        """Follow every namespace; after a lost stream resume at last seen + 1 on a new
        connection (another worker); end once the revision `until` resolves to is seen."""
        seen = self.seen[index]
        last = seen[-1] if seen else 0
        while not (until.done() and last >= until.result()):
            async with grpc.aio.insecure_channel(
                self.server.grpc_addr, options=[OWN_CONNECTION]
            ) as channel:
                call = pb_grpc.ConfigServiceStub(channel).Watch(
                    pb.WatchRequest(prefixes=[""], start_revision=last + 1), wait_for_ready=True
                )
                try:
                    async for message in call:
                        event = message.WhichOneof("event")
                        assert event != "snapshot", "a resumed watch got a snapshot"
                        if event == "change_set":
                            seen.append(message.change_set.revision)
                        last = max(last, getattr(message, event).revision)
                        if until.done() and last >= until.result():
                            return
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in LOST:
                        raise
                finally:
                    call.cancel()

    async def _pinned_reader(self, pid: int, stop: asyncio.Event, reads: list[int]) -> None:
        """Read through one surviving worker's own socket until `stop`; any failure fails."""
        async with worker_channel(self.server, pid) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            while not stop.is_set():
                listed = await stub.ListNamespaces(pb.ListNamespacesRequest(), timeout=10)
                reads.append(listed.revision)
                await asyncio.sleep(0.005)

    async def run_worker_round(
        self, number: int, *, kills: int = 1, min_s: float = 0.05, max_s: float = 0.5
    ) -> None:
        """Kill `kills` workers one after another (SIGKILL, each at a random moment under
        writes, never the reader's), then wait for their replacements; see the module doc."""
        assert self.workers > 1, "worker rounds need workers"
        acked_before = len(self.acks)
        unacked_before = self._unacked_committed(max(self.acks, default=self.writers))
        self._acked = asyncio.Event()
        before = await asyncio.to_thread(self._wait_workers, set())
        survivor = self.rng.choice(sorted(before))
        stop = asyncio.Event()
        head: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        reads: list[int] = []
        reader = asyncio.create_task(self._pinned_reader(survivor, stop, reads))
        watchers = [
            asyncio.create_task(self._moving_watcher(i, head)) for i in range(self.watchers)
        ]
        writers = [asyncio.create_task(self._moving_writer(i, stop)) for i in range(self.writers)]
        victims: list[int] = []
        try:
            await asyncio.wait_for(self._acked.wait(), 20)
            kill_after = self.rng.uniform(min_s, max_s)
            for _ in range(kills):
                await asyncio.sleep(kill_after if not victims else self.rng.uniform(min_s, max_s))
                # Mid-batch: writes are in flight on every worker all the time.
                live = sorted(self._live_workers() - {survivor, *victims})
                assert live, "no worker left to kill but the reader's"
                victims.append(self.rng.choice(live))
                os.kill(victims[-1], signal.SIGKILL)
            killed_at = time.monotonic()
            after = await asyncio.to_thread(self._wait_workers, set(victims))
            replaced_after = time.monotonic() - killed_at
            assert survivor in after
            # Writes keep flowing after the replacement, then stop.
            self._acked = asyncio.Event()
            await asyncio.wait_for(self._acked.wait(), 20)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*writers), 30)
            async with worker_channel(self.server, survivor) as channel:
                status = await admin_pb2_grpc.AdminServiceStub(channel).GetStatus(
                    admin_pb2.GetStatusRequest()
                )
            head.set_result(status.revision)
            await asyncio.wait_for(asyncio.gather(*watchers), 30)
            await asyncio.wait_for(reader, 30)  # raises the reader's failure, if any
        finally:
            stop.set()
            for task in (reader, *watchers, *writers):
                task.cancel()
        assert len(reads) > 0
        await self.check_server(status.revision, restarted=False)
        self.reports.append(
            RoundReport(
                round=number,
                acked=len(self.acks) - acked_before,
                revision=status.revision,
                kill_after=round(kill_after, 3),
                unacked_committed=self._unacked_committed(status.revision) - unacked_before,
                victims=tuple(victims),
                replaced_after=round(replaced_after, 2),
                reads=len(reads),
            )
        )

    def _unacked_committed(self, head: int) -> int:
        """Writes up to `head` that committed without an acknowledgement (the writers' calls
        that failed when their worker was killed), besides the namespaces' creation."""
        return head - self.writers - sum(1 for revision in self.acks if revision <= head)

    def _wait_workers(self, gone: set[int], deadline: float = 60.0) -> set[int]:
        """Wait until `workers` workers are listed, none of them in `gone`; their pids."""
        end = time.monotonic() + deadline
        while True:
            with contextlib.suppress(OSError):
                pids = worker_pids(self.server)
                if len(pids) == self.workers and not pids & gone:
                    return pids
            assert time.monotonic() < end, f"not {self.workers} workers within {deadline} s"
            time.sleep(0.02)

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

    async def check_server(self, on_disk: int, *, restarted: bool = True) -> None:
        """Over gRPC: history holds every revision once, each key at least its last
        acknowledged write. After a restart the server is at `on_disk` and the watchers
        resume and catch up to it (a worker round's watchers caught up within the round)."""
        async with grpc.aio.insecure_channel(self.server.grpc_addr) as channel:
            stub = pb_grpc.ConfigServiceStub(channel)
            if restarted:
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
                # min_revision: whichever worker answers has applied everything checked.
                reply = await stub.GetNamespace(
                    pb.GetNamespaceRequest(name=namespace, min_revision=on_disk)
                )
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
            if not restarted:
                await self._check_watchers(on_disk)
                return
            # Watchers resume from their last revision and catch up to the current one.
            await asyncio.wait_for(
                asyncio.gather(
                    *(self._watcher(stub, i, on_disk) for i in range(self.watchers) if on_disk)
                ),
                30,
            )
        await self._check_watchers(on_disk)

    async def _check_watchers(self, on_disk: int) -> None:
        for seen in self.seen:
            assert seen == list(range(1, len(seen) + 1)), "a watcher saw a gap or a duplicate"
            assert len(seen) == on_disk

    def close(self) -> None:
        self.server.stop()
