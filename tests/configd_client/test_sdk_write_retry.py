"""The SDK retries a write whose outcome is unknown with its request id, and it lands once.

A real configd with a short --commit-timeout and a real lock on its SQLite file, taken by the
test: the server's commit waits for the lock past its deadline, so the first attempt is
answered UNAVAILABLE ("outcome unknown") although the commit then lands. The SDK's one retry
rule (configd_client._retry, used by configctl's Session) sends the write again with the same
request id, and the answer is the original revision: history holds one write.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from configd.storage.sqlite.files import DB_FILE
from configd.testing import ConfigdProcess
from configd_client._channel import ConnectOptions
from configd_client.cli.session import Session, Settings
from configd_client.wire import config_pb2 as pb

COMMIT_TIMEOUT = 0.4
HOLD = 1.2  # seconds the test holds the database's write lock: three commit deadlines


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ConfigdProcess]:
    with ConfigdProcess(tmp_path / "data", "--commit-timeout", str(COMMIT_TIMEOUT)) as server:
        yield server


def hold_write_lock(path: Path, seconds: float) -> threading.Event:
    """Take SQLite's write lock on `path` (as another writer would) for `seconds`, in a thread;
    the event is set once it is held."""
    held = threading.Event()

    def run() -> None:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            held.set()
            threading.Event().wait(seconds)
            db.execute("ROLLBACK")
        finally:
            db.close()

    threading.Thread(target=run, daemon=True).start()
    return held


async def test_a_put_whose_answer_was_lost_is_retried_and_lands_once(
    server: ConfigdProcess,
) -> None:
    settings = Settings(connect=ConnectOptions(addr=server.grpc_addr), timeout=20.0)
    async with Session(settings) as session:
        await session.call(session.config.CreateNamespace, pb.CreateNamespaceRequest(name="ns"))
        before = await session.call(session.config.ListNamespaces, pb.ListNamespacesRequest())
        assert hold_write_lock(server.data_dir / DB_FILE, HOLD).wait(10)
        put = pb.PutRequest(namespace="ns", key="k", value_json="1")
        reply = await session.call(session.config.Put, put)
        assert put.request_id  # the SDK gave the write an id, and kept it across attempts
        assert reply.revision == before.revision + 1
        history = await session.call(session.config.History, pb.HistoryRequest(namespace="ns"))
        assert [e.revision for e in history.entries] == [reply.revision, before.revision]
    logs = server.logs()
    # The first attempt really was answered "outcome unknown", and a retry found the write.
    assert "storage has not answered a commit of 1 writes" in logs
    assert f"retry of revision={reply.revision} request_id={put.request_id}" in logs
