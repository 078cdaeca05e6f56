"""Server crashes, restarts, compaction and outages at start: the client hides them all."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from configd_client import (
    AsyncConfigClient,
    ClientState,
    ConfigClient,
    Snapshot,
    Unavailable,
)
from configd_client.wire import admin_pb2, admin_pb2_grpc

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer

NS = "svc/prod"
FAST = {"backoff_initial": 0.05, "backoff_max": 0.5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recorder(client: AsyncConfigClient | ConfigClient) -> list[int]:
    revisions: list[int] = []

    def record(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
        revisions.append(new.revision)

    client.on_change(record)
    return revisions


async def test_kill_and_restart_mid_stream_misses_no_revision(
    configd_server: ConfigdProcess, own_writer: Writer
) -> None:
    own_writer.create(NS)
    async with AsyncConfigClient(NS, addr=configd_server.grpc_addr, **FAST) as client:
        seen = recorder(client)
        written = [own_writer.put(NS, "n", i) for i in range(5)]
        await client.wait_for_revision(written[-1], timeout=5)

        configd_server.kill()
        # The writer blocks this loop, so the client cannot reconnect before these commit:
        # they are missed while away and must be replayed exactly once on resume.
        configd_server.start()
        written += [own_writer.put(NS, "n", i) for i in range(5, 10)]
        written.append(own_writer.txn(NS, {"n": 10, "m": 0}))
        await client.wait_for_revision(written[-1], timeout=15)
        assert client.status.state is ClientState.CONNECTED
        assert isinstance(client.status.last_error, Unavailable)

        # Still live after the resume.
        written.append(own_writer.put(NS, "n", 11))
        await client.wait_for_revision(written[-1], timeout=5)
        assert client.get("n") == 11
    assert seen == written


async def test_compaction_while_away_resyncs_atomically(
    configd_server: ConfigdProcess, own_writer: Writer, sdk_log: pytest.LogCaptureFixture
) -> None:
    own_writer.create(NS)
    own_writer.txn(NS, {"a": 1, "gone": True})
    async with AsyncConfigClient(NS, addr=configd_server.grpc_addr, **FAST) as client:
        changes: list[tuple[dict[str, object], frozenset[str]]] = []
        client.on_change(lambda old, new, changed: changes.append((dict(new), changed)))
        configd_server.stop()
        configd_server.start()
        own_writer.put(NS, "a", 2)
        own_writer.delete(NS, "gone")
        last = own_writer.put(NS, "b", 3)
        with grpc.insecure_channel(configd_server.grpc_addr) as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            admin.Compact(admin_pb2.CompactRequest(revision=last), timeout=10)
        await client.wait_for_revision(last, timeout=15)
        assert client.snapshot().to_dict() == {"a": 2, "b": 3}
    # One swap for everything missed: readers never saw a=2 without b=3.
    assert changes == [({"a": 2, "b": 3}, frozenset({"a", "b", "gone"}))]
    assert any("resynchronised from a snapshot" in r.getMessage() for r in sdk_log.records)


async def test_server_down_at_start_serves_the_cache_then_catches_up(
    configd_server: ConfigdProcess,
    own_writer: Writer,
    tmp_path: Path,
    sdk_log: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache" / "svc.json"
    own_writer.create(NS)
    cached_rev = own_writer.txn(NS, {"a": 1, "b": 2})
    async with AsyncConfigClient(NS, addr=configd_server.grpc_addr, cache_path=cache):
        pass
    assert cache.exists()

    configd_server.stop()
    client = AsyncConfigClient(NS, addr=configd_server.grpc_addr, cache_path=cache, **FAST)
    async with client:
        status = client.status
        assert status.state is ClientState.FROM_CACHE
        assert status.cache_revision == cached_rev
        assert isinstance(status.last_error, Unavailable)
        assert client.snapshot().to_dict() == {"a": 1, "b": 2}
        assert client.revision == cached_rev
        warning = [r for r in sdk_log.records if "serving the cached values" in r.getMessage()]
        assert warning
        assert warning[0].levelno == logging.WARNING

        seen: list[frozenset[str]] = []
        client.on_change(lambda old, new, changed: seen.append(changed))
        configd_server.start()
        rev = own_writer.put(NS, "b", 20)
        await client.wait_for_revision(rev, timeout=15)
        assert client.status.state is ClientState.CONNECTED
        assert client.snapshot().to_dict() == {"a": 1, "b": 20}
        assert seen == [frozenset({"b"})]


async def test_no_server_and_no_cache_fails_clearly_after_the_timeout(tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    client = AsyncConfigClient(
        NS, addr=addr, cache_path=tmp_path / "none.json", start_timeout=0.5, **FAST
    )
    with pytest.raises(Unavailable) as info:
        await client.start()
    message = str(info.value)
    assert message.startswith(
        f"configd: could not load namespaces '{NS}' from configd at {addr} within 0.5s "
        f"and there is no usable cache (the cache file {tmp_path / 'none.json'}); last error: "
    )
    assert message.endswith("or pass start_timeout=None to wait for it")
    assert client.status.state is ClientState.CLOSED


async def test_start_timeout_none_waits_for_the_server(
    configd_server: ConfigdProcess, own_writer: Writer
) -> None:
    own_writer.create(NS)
    own_writer.put(NS, "k", "v")
    configd_server.stop()
    client = AsyncConfigClient(NS, addr=configd_server.grpc_addr, start_timeout=None, **FAST)
    start = asyncio.create_task(client.start())
    await asyncio.sleep(0.5)  # the behaviour under test: still waiting, well past a retry or two
    assert not start.done()
    assert client.status.state is ClientState.STARTING
    configd_server.start()
    await asyncio.wait_for(start, 15)
    try:
        assert client.get("k") == "v"
    finally:
        await client.aclose()


async def test_corrupt_cache_warns_then_starts_normally(
    shared_server: ConfigdProcess,
    writer: Writer,
    ns: str,
    tmp_path: Path,
    sdk_log: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache.json"
    cache.write_bytes(b'{"format": "configd-sdk-cache/1", "sha256": "00", "bo')
    writer.create(ns)
    rev = writer.put(ns, "k", 1)
    async with AsyncConfigClient(ns, addr=shared_server.grpc_addr, cache_path=cache) as client:
        assert client.status.state is ClientState.CONNECTED
        assert client.get("k") == 1
        await client.wait_for_revision(rev, timeout=5)
    [warning] = [r for r in sdk_log.records if "is corrupt" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith(f"configd: the cache file {cache} is corrupt (not JSON")
    # Rewritten with good content on the way.
    assert b'\\"k\\": \\"1\\"' in cache.read_bytes()


def test_threaded_client_survives_a_restart(
    configd_server: ConfigdProcess, own_writer: Writer, tmp_path: Path
) -> None:
    own_writer.create(NS)
    with ConfigClient(
        NS, addr=configd_server.grpc_addr, cache_path=tmp_path / "c.json", **FAST
    ) as client:
        seen = recorder(client)
        written = [own_writer.put(NS, "n", 0)]
        client.wait_for_revision(written[-1], timeout=5)
        configd_server.kill()
        configd_server.start()
        written += [own_writer.put(NS, "n", i) for i in range(1, 4)]
        client.wait_for_revision(written[-1], timeout=15)
        assert client.get("n") == 3
    assert seen == written
