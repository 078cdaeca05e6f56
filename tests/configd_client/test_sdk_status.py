"""ClientStatus says what a status endpoint should show: what is served, from where, and what is
wrong now (the last error kept apart, with its time)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from configd_client import (
    AsyncConfigClient,
    ClientState,
    Rejection,
    SchemaViolation,
    Snapshot,
    Unavailable,
)

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer

NS = "svc/status"
FAST = {"backoff_initial": 0.05, "backoff_max": 0.5}


async def until(condition: Callable[[], bool], what: str, within: float = 15) -> None:
    """Poll `condition()` until true, failing after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_from_cache_the_status_gives_the_cache_revision_then_clears_the_error(
    configd_server: ConfigdProcess, own_writer: Writer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.json"
    own_writer.create(NS)
    cached_rev = own_writer.txn(NS, {"a": 1})
    async with AsyncConfigClient(NS, addr=configd_server.grpc_addr, cache_path=cache):
        pass
    written = datetime.fromtimestamp(cache.stat().st_mtime, UTC)

    configd_server.stop()
    async with AsyncConfigClient(
        NS, addr=configd_server.grpc_addr, cache_path=cache, **FAST
    ) as client:
        status = client.status
        assert status.state is ClientState.FROM_CACHE
        assert status.revision == client.snapshot().revision == cached_rev
        assert status.source == "cache"
        assert status.last_update == written
        assert isinstance(status.error, Unavailable)
        assert status.last_error is status.error
        assert status.last_error_at is not None

        configd_server.start()
        revision = own_writer.put(NS, "a", 2)
        await client.wait_for_revision(revision, timeout=15)
        status = client.status
        assert status.state is ClientState.CONNECTED
        assert (status.revision, status.source) == (revision, "server")
        assert status.last_update is not None
        assert status.last_update > written
        assert status.error is None  # recovered: nothing is wrong now
        assert isinstance(status.last_error, Unavailable)  # kept apart, for diagnosis
        assert status.cache_revision == cached_rev


async def test_the_error_lasts_while_reconnecting_and_ends_with_the_reconnect(
    configd_server: ConfigdProcess, own_writer: Writer
) -> None:
    own_writer.create(NS)
    async with AsyncConfigClient(NS, addr=configd_server.grpc_addr, **FAST) as client:
        assert (client.status.error, client.status.last_error) == (None, None)
        configd_server.kill()
        await until(lambda: client.status.state is ClientState.RECONNECTING, "reconnecting")
        assert isinstance(client.status.error, Unavailable)
        broke_at = client.status.last_error_at
        assert broke_at is not None

        configd_server.start()
        revision = own_writer.put(NS, "k", 1)
        await client.wait_for_revision(revision, timeout=15)
        status = client.status
        assert status.state is ClientState.CONNECTED
        assert status.error is None
        assert isinstance(status.last_error, Unavailable)
        assert status.last_error_at is not None
        assert status.last_error_at >= broke_at


async def test_a_rejected_document_is_the_error_until_a_valid_one_arrives(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    local = {"type": "object", "properties": {"port": {"type": "integer"}}}
    writer.create(ns)
    async with AsyncConfigClient(ns, addr=shared_server.grpc_addr, schemas={ns: local}) as client:
        bad = writer.put(ns, "port", "eighty")
        await client.wait_for_revision(bad, timeout=10)
        assert client.status.rejected == {ns}
        assert isinstance(client.status.error, SchemaViolation)
        good = writer.put(ns, "port", 80)
        await client.wait_for_revision(good, timeout=10)
        assert (client.status.rejected, client.status.error) == (frozenset(), None)
        assert isinstance(client.status.last_error, SchemaViolation)


async def test_as_dict_is_what_a_status_endpoint_serves(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    revision = writer.put(ns, "k", 1)
    async with AsyncConfigClient(ns, addr=shared_server.grpc_addr) as client:
        await client.wait_for_revision(revision, timeout=10)
        shown = json.loads(json.dumps(client.status.as_dict()))
    assert shown["state"] == "connected"
    assert shown["source"] == "server"
    assert shown["revision"] >= revision
    assert shown["last_update"].endswith("Z")
    assert (shown["error"], shown["last_error"], shown["last_error_at"]) == (None, None, None)
    assert (shown["rejected"], shown["missing"], shown["cache_revision"]) == ([], [], None)
    assert shown["last_rejection"] is None


async def test_last_rejection_names_the_refused_revision_until_a_later_one_applies(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    local = {"type": "object", "properties": {"port": {"type": "integer"}}}
    other = f"{ns}-other"
    writer.create(ns)
    writer.create(other)
    async with AsyncConfigClient(
        [ns, other], addr=shared_server.grpc_addr, schemas={ns: local}
    ) as client:
        before = datetime.now(UTC)
        bad = writer.put(ns, "port", "eighty")
        await client.wait_for_revision(bad, timeout=10)
        rejection = client.status.last_rejection
        assert rejection is not None
        assert (rejection.namespace, rejection.revision) == (ns, bad)
        assert "eighty" in rejection.reason
        assert before <= rejection.at <= datetime.now(UTC)
        shown = json.loads(json.dumps(client.status.as_dict()))["last_rejection"]
        assert shown == {
            "namespace": ns,
            "revision": bad,
            "reason": rejection.reason,
            "at": rejection.at.isoformat().replace("+00:00", "Z"),
        }
        # Another namespace's revision applying does not clear it; this one's does.
        await client.wait_for_revision(writer.put(other, "k", 1), timeout=10)
        assert client.status.last_rejection == rejection
        await client.wait_for_revision(writer.put(ns, "port", 80), timeout=10)
        assert client.status.last_rejection is None
        assert client.status.as_dict()["last_rejection"] is None


async def test_last_rejection_of_a_check_carries_the_check_message(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)

    def small(candidate: Snapshot) -> bool:
        if int(candidate.get("pool", 0)) > 20:
            raise ValueError("pool too big")
        return True

    async with AsyncConfigClient(ns, addr=shared_server.grpc_addr) as client:
        client.add_check(small)
        bad = writer.put(ns, "pool", 50)
        await client.wait_for_revision(bad, timeout=10)
        rejection = client.status.last_rejection
        assert isinstance(rejection, Rejection)
        assert (rejection.namespace, rejection.revision, rejection.reason) == (
            ns,
            bad,
            "pool too big",
        )
        await client.wait_for_revision(writer.put(ns, "pool", 5), timeout=10)
        assert client.status.last_rejection is None
