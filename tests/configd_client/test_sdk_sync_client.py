"""ConfigClient (threaded) against a real configd: atomic multi-key changes, callbacks, waits."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from configd_client import ClientState, ConfigClient, Snapshot

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer


def test_reader_never_sees_half_a_transaction(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    writer.txn(ns, {"a": 50, "b": 50})
    broken: list[tuple[int, int, int]] = []
    revisions_seen: set[int] = set()
    reads = 0
    stop = threading.Event()
    with ConfigClient(ns, addr=shared_server.grpc_addr) as client:

        def read() -> None:
            nonlocal reads
            while not stop.is_set():
                snap = client.snapshot()
                a, b = snap["a"], snap["b"]
                if a + b != 100:
                    broken.append((snap.revision, a, b))
                revisions_seen.add(snap.revision)
                reads += 1

        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in readers:
            thread.start()
        try:
            last = 0
            for i in range(150):
                last = writer.txn(ns, {"a": i, "b": 100 - i})
            client.wait_for_revision(last, timeout=10)
        finally:
            stop.set()
            for thread in readers:
                thread.join()
        assert client.get("a") == 149
    assert broken == []
    assert len(revisions_seen) > 10, "the readers should have observed many revisions"
    assert reads > 1000


def test_callbacks_run_in_the_client_thread_in_revision_order(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    seen: list[int] = []
    steps: list[tuple[int, int]] = []
    threads: set[str] = set()
    refusals: list[str] = []
    with ConfigClient(ns, addr=shared_server.grpc_addr) as client:

        @client.on_change
        def record(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
            threads.add(threading.current_thread().name)
            seen.append(new.revision)
            steps.append((old.get("x", -1), new["x"]))
            try:
                client.wait_for_revision(new.revision + 1)
            except RuntimeError as exc:
                refusals.append(str(exc))

        revisions = [writer.put(ns, "x", i) for i in range(30)]
        assert client.wait_for_revision(revisions[-1], timeout=5) >= revisions[-1]
        assert client.status.state is ClientState.CONNECTED
    assert seen == revisions
    assert steps == [(i - 1, i) for i in range(30)]
    assert threads == {"configd-client"}
    assert len(refusals) == 30
    assert "would block the client's own thread" in refusals[0]


def test_close_is_idempotent_and_start_once(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    client = ConfigClient(ns, addr=shared_server.grpc_addr)
    client.start()
    with pytest.raises(RuntimeError, match="started only once"):
        client.start()
    client.close()
    client.close()
    assert client.status.state is ClientState.CLOSED
    assert not [t for t in threading.enumerate() if t.name == "configd-client"]


def test_wait_for_revision_returns_after_the_on_change_callbacks(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    finished: list[int] = []
    with ConfigClient(ns, addr=shared_server.grpc_addr) as config:
        config.on_change(lambda old, new, keys: finished.append(new.revision))
        revision = writer.put(ns, "k", 1)
        config.wait_for_revision(revision, timeout=10)
        assert finished == [revision]
