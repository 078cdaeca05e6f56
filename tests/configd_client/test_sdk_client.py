"""AsyncConfigClient against a real configd: loading, reading, hot reload, callbacks, schemas."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import pytest

from configd_client import (
    AsyncConfigClient,
    ClientState,
    InvalidArgument,
    SchemaViolation,
    Snapshot,
)

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer

SCHEMA = {
    "type": "object",
    "properties": {"port": {"type": "integer"}, "hosts": {"type": "array"}},
}


def client_for(server: ConfigdProcess, *namespaces: str, **kwargs: object) -> AsyncConfigClient:
    return AsyncConfigClient(namespaces, addr=server.grpc_addr, **kwargs)  # type: ignore[arg-type]


async def test_start_loads_values_and_revision(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns, SCHEMA)
    rev = writer.txn(ns, {"port": 8080, "hosts": ["a", {"b": 1}]})
    async with client_for(shared_server, ns) as client:
        assert client.status.state is ClientState.CONNECTED
        assert client.status.revision >= rev
        assert client.get("port") == 8080
        assert client.get("missing", 7) == 7
        assert client.get("hosts") == ("a", MappingProxyType({"b": 1}))
        snap = client.snapshot()
        assert dict(snap) == {"port": 8080, "hosts": ("a", MappingProxyType({"b": 1}))}
        assert snap.revision >= rev
        assert snap.mod_revision == rev
        assert snap.namespace == ns
        assert client.get("port", namespace=ns) == 8080
    assert client.status.state is ClientState.CLOSED
    assert client.get("port") == 8080  # the last values stay readable


async def test_hot_reload_and_callbacks_in_revision_order(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    seen: list[tuple[int, int, frozenset[str]]] = []
    async with client_for(shared_server, ns) as client:

        @client.on_change
        def record(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
            assert client.snapshot().revision >= new.revision  # called after the swap
            seen.append((old.revision, new.revision, changed))

        revisions = [writer.put(ns, "n", i) for i in range(20)]
        revisions.append(writer.txn(ns, {"n": 99, "m": 1}))
        revisions.append(writer.delete(ns, "m"))
        await client.wait_for_revision(revisions[-1], timeout=5)
        assert client.get("n") == 99
        assert client.get("m") is None
    assert [new for _, new, _ in seen] == revisions
    assert all(old < new for old, new, _ in seen)
    assert seen[-2][2] == {"n", "m"}
    assert seen[-1][2] == {"m"}


async def test_async_callbacks_are_awaited_and_failures_do_not_stop_updates(
    shared_server: ConfigdProcess,
    writer: Writer,
    ns: str,
    sdk_log: pytest.LogCaptureFixture,
) -> None:
    writer.create(ns)
    order: list[str] = []
    async with client_for(shared_server, ns) as client:

        def broken(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
            raise RuntimeError("boom")

        async def slow(old: Snapshot, new: Snapshot, changed: frozenset[str]) -> None:
            await asyncio.sleep(0.01)
            order.append(f"slow{new['v']}")

        client.on_change(broken)
        client.on_change(slow)
        client.on_change(lambda old, new, changed: order.append(f"fast{new['v']}"))
        writer.put(ns, "v", 1)
        last = writer.put(ns, "v", 2)
        # wait_for_revision returns after that revision's callbacks, the awaiting one included.
        await client.wait_for_revision(last, timeout=5)
    assert order == ["slow1", "fast1", "slow2", "fast2"]
    failures = [r for r in sdk_log.records if "on_change callback" in r.getMessage()]
    assert len(failures) == 2
    assert "failed at revision" in failures[0].getMessage()


async def test_several_namespaces_and_prefixes(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    first, second = f"{ns}/one", f"{ns}/two"
    writer.create(first)
    writer.put(first, "k", "one")
    async with AsyncConfigClient(prefixes=[f"{ns}/"], addr=shared_server.grpc_addr) as client:
        assert client.get("k", namespace=first) == "one"
        with pytest.raises(TypeError, match="pass namespace= to say which"):
            client.get("k")
        with pytest.raises(KeyError, match="is not watched by this client"):
            client.get("k", namespace="elsewhere")
        assert client.get("k", "absent", namespace=second) == "absent"
        assert not client.snapshot(second).exists

        created: list[str] = []
        client.on_change(lambda old, new, changed: created.append(new.namespace))
        writer.create(second)
        rev = writer.put(second, "k", "two")
        await client.wait_for_revision(rev, timeout=5)
        assert client.get("k", namespace=second) == "two"
        assert set(client.snapshots()) == {first, second}
        rev = writer.delete_namespace(first)
        await client.wait_for_revision(rev, timeout=5)
        assert not client.snapshot(first).exists
        assert created == [second, second, first]


async def test_bind_to_dataclass(shared_server: ConfigdProcess, writer: Writer, ns: str) -> None:
    @dataclass
    class Settings:
        port: int
        hosts: list[str]
        debug: bool = False

    writer.create(ns)
    writer.txn(ns, {"port": 1, "hosts": ["x"]})
    async with client_for(shared_server, ns) as client:
        assert client.bind(Settings) == Settings(port=1, hosts=["x"])


async def test_wait_for_revision_times_out_clearly(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    async with client_for(shared_server, ns) as client:
        with pytest.raises(TimeoutError, match=r"revision 1000000 not reached within 0.05s"):
            await client.wait_for_revision(1_000_000, timeout=0.05)


async def test_schema_change_then_conforming_document(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    writer.put(ns, "port", 1)
    async with client_for(shared_server, ns) as client:
        rev = writer.set_schema(ns, SCHEMA)
        await client.wait_for_revision(rev, timeout=5)
        assert client.snapshot().schema_version == 2
        rev = writer.put(ns, "port", 2)
        await client.wait_for_revision(rev, timeout=5)
        assert client.get("port") == 2
        assert not client.status.rejected


async def test_document_failing_the_local_schema_is_not_applied_and_is_reported(
    shared_server: ConfigdProcess,
    writer: Writer,
    ns: str,
    sdk_log: pytest.LogCaptureFixture,
) -> None:
    # The server's schema allows any port; this application insists on 1..65535.
    local = {"type": "object", "properties": {"port": {"type": "integer", "maximum": 65535}}}
    writer.create(ns, SCHEMA)
    writer.txn(ns, {"port": 80, "hosts": ["a"]})
    changes: list[frozenset[str]] = []
    async with client_for(shared_server, ns, schemas={ns: local}) as client:
        client.on_change(lambda old, new, changed: changes.append(changed))
        bad = writer.txn(ns, {"port": 70000, "hosts": ["b"]})
        await client.wait_for_revision(bad, timeout=5)
        # Nothing of the bad revision is visible: neither key changed.
        assert client.get("port") == 80
        assert client.get("hosts") == ("a",)
        status = client.status
        assert status.rejected == {ns}
        assert isinstance(status.last_error, SchemaViolation)
        assert str(status.last_error) == (
            f"configd: namespace '{ns}' at revision {bad} does not satisfy the application's "
            "local schema (/port: 70000 is greater than the maximum of 65535 "
            "(keyword 'maximum')); keeping the last good values"
        )
        assert changes == []
        # The mirror kept following the server: a later fix applies on the right base.
        good = writer.put(ns, "port", 443)
        await client.wait_for_revision(good, timeout=5)
        assert (client.get("port"), client.get("hosts")) == (443, ("b",))
        assert client.status.rejected == frozenset()
        assert changes == [{"port", "hosts"}]
    assert any(
        r.levelname == "ERROR" and "does not satisfy" in r.getMessage() for r in sdk_log.records
    )


async def test_invalid_document_at_start_is_not_published(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    writer.put(ns, "port", "not a number")
    local = {"type": "object", "properties": {"port": {"type": "integer"}}}
    async with client_for(shared_server, ns, schemas={ns: local}) as client:
        assert client.status.rejected == {ns}
        assert client.get("port") is None


async def test_not_started_and_lifecycle_errors(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    client = client_for(shared_server, ns)
    with pytest.raises(RuntimeError, match="the client is not started"):
        client.get("k")
    async with client:
        with pytest.raises(RuntimeError, match="started only once"):
            await client.start()
    await client.aclose()  # twice is harmless
    with pytest.raises(ValueError, match="watch at least one namespace or prefix"):
        AsyncConfigClient()


async def test_a_refused_watch_fails_start_at_once(shared_server: ConfigdProcess) -> None:
    client = AsyncConfigClient("Not A Name!", addr=shared_server.grpc_addr, start_timeout=30)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(InvalidArgument, match="namespace"):
        await client.start()
    assert loop.time() - started < 5
    assert client.status.state is ClientState.CLOSED


async def test_wait_for_revision_returns_after_the_on_change_callbacks(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    finished: list[int] = []
    async with AsyncConfigClient(ns, addr=shared_server.grpc_addr) as client:

        async def slow(old: Snapshot, new: Snapshot, keys: frozenset[str]) -> None:
            for _ in range(20):  # gives the loop to anyone else who is ready
                await asyncio.sleep(0)
            finished.append(new.revision)

        client.on_change(slow)
        revision = writer.put(ns, "k", 1)
        await client.wait_for_revision(revision, timeout=10)
        assert finished == [revision]
