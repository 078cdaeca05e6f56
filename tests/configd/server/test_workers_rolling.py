"""A rolling replacement (SIGUSR2) of every worker under SDK clients (issue 16): no read fails,
no watch event is lost or repeated, and a writer at most retries.

The readers are configctl's Session (unary reads, retried by the SDK's one rule in
configd_client/_retry.py); the watchers are an AsyncConfigClient and a threaded ConfigClient,
whose watch resumes at last seen + 1 on another worker when its worker drains.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client import AsyncConfigClient, ConfigClient, ConnectOptions, Snapshot
from configd_client.cli.session import Session, Settings
from configd_client.errors import ConfigdError
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.server.worker_probes import aio_channel, until, until_async, worker_pids

NS = "roll/app"
LOST = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[ConfigdProcess]:
    with ConfigdProcess(tmp_path / "data", "--watch-progress-interval", "0.2", workers=2) as server:
        until(lambda: len(worker_pids(server)) == 2, "both workers listed")
        yield server


class Writer:
    """Puts n = 1, 2, ... until stopped; a put that fails because its worker stopped is sent
    again (a write is not idempotent: it may then be committed twice, hence `retries`)."""

    def __init__(self, server: ConfigdProcess) -> None:
        self._server = server
        self.acked: list[int] = []
        self.retries = 0
        self.last_value = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        value = 0
        while not self.stop.is_set():
            value += 1
            while True:
                async with aio_channel(self._server) as channel:
                    try:
                        reply = await pb_grpc.ConfigServiceStub(channel).Put(
                            pb.PutRequest(namespace=NS, key="n", value_json=str(value)),
                            timeout=20,
                            wait_for_ready=True,
                        )
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() not in LOST:
                            raise
                        self.retries += 1
                        continue
                self.acked.append(reply.revision)
                self.last_value = value
                break
            await asyncio.sleep(0.01)


async def history_revisions(server: ConfigdProcess) -> list[int]:
    """Every committed revision of NS, oldest first (all history pages)."""
    revisions: list[int] = []
    token = ""
    async with aio_channel(server) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        while True:
            page = await stub.History(pb.HistoryRequest(namespace=NS, page_token=token))
            revisions.extend(e.revision for e in page.entries)
            token = page.next_page_token
            if not token:
                return sorted(revisions)


async def read_until(session: Session, stop: asyncio.Event, reads: list[int]) -> None:
    """GetNamespace and Get through a configctl session until stopped (a failure raises)."""
    while not stop.is_set():
        reply = await session.get_namespace(NS)
        got = await session.call(session.config.Get, pb.GetRequest(namespace=NS, key="n"))
        # The session sends the highest revision it saw as min_revision: never older.
        assert got.revision >= reply.revision
        reads.append(got.revision)
        await asyncio.sleep(0.005)


async def test_rolling_replacement_under_sdk_readers_watchers_and_a_writer(
    workers: ConfigdProcess,
) -> None:
    async with aio_channel(workers) as setup:
        stub = pb_grpc.ConfigServiceStub(setup)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name=NS))
        seeded = await stub.Put(pb.PutRequest(namespace=NS, key="n", value_json="0"))
    before = await asyncio.to_thread(worker_pids, workers)

    async_events: list[int] = []
    sync_events: list[int] = []
    sync_lock = threading.Lock()

    def on_async(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
        async_events.append(new.revision)

    def on_sync(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
        with sync_lock:
            sync_events.append(new.revision)

    # A client's connection may land on the worker that has not applied the creation yet:
    # min_revision makes that worker wait rather than answer that the namespace does not exist.
    options = {"addr": workers.grpc_addr, "idle_timeout": 5.0, "min_revision": seeded.revision}
    sync_client = ConfigClient(NS, **options)
    await asyncio.to_thread(sync_client.start)
    sync_client.on_change(on_sync)  # after start: the first snapshot is no event here
    writer = Writer(workers)
    stop_reading = asyncio.Event()
    reads: list[list[int]] = [[] for _ in range(3)]
    settings = Settings(connect=ConnectOptions(addr=workers.grpc_addr), timeout=20)
    sessions = [Session(settings) for _ in reads]
    try:
        async with AsyncConfigClient(NS, **options) as async_client:
            async_client.on_change(on_async)
            async_start, sync_start = async_client.revision, sync_client.revision
            readers = [
                asyncio.create_task(read_until(session, stop_reading, into))
                for session, into in zip(sessions, reads, strict=True)
            ]
            writing = asyncio.create_task(writer.run())
            await until_async(lambda: len(writer.acked) > 5, "the writer writes")
            done = workers.logs().count("rolling replacement done")
            os.kill(workers.pid, signal.SIGUSR2)
            await until_async(
                lambda: workers.logs().count("rolling replacement done") > done, "the roll ends"
            )
            after = await asyncio.to_thread(worker_pids, workers)
            count = len(writer.acked)
            await until_async(lambda: len(writer.acked) > count + 5, "writes after the roll")
            writer.stop.set()
            stop_reading.set()
            await asyncio.wait_for(writing, 30)
            await asyncio.wait_for(asyncio.gather(*readers), 30)  # raises a failed read
            last = writer.acked[-1]
            await async_client.wait_for_revision(last, timeout=30)
            await asyncio.to_thread(sync_client.wait_for_revision, last, 30)
            assert async_client.get("n") == sync_client.get("n") == writer.last_value
        committed = await history_revisions(workers)
    except ConfigdError as exc:
        pytest.fail(f"an SDK read failed during the roll: {exc!r}")
    finally:
        for session in sessions:
            await session.__aexit__(None, None, None)
        await asyncio.to_thread(sync_client.close)
    assert len(after) == 2
    assert not after & before  # every worker was replaced
    assert all(len(r) > 5 for r in reads)
    # Every committed write after the clients started, each exactly once, in order.
    assert async_events == [r for r in committed if r > async_start]
    with sync_lock:
        assert sync_events == [r for r in committed if r > sync_start]
    # A retried write may have committed twice: at most one extra revision per retry.
    assert len(committed) - 2 - len(writer.acked) <= writer.retries
