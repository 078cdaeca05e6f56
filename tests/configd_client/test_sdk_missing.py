"""A watched namespace that does not exist: an error at start, unless the caller opts in."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from configd_client import (
    AsyncConfigClient,
    ClientOptions,
    ClientState,
    ConfigClient,
    NamespaceNotFound,
)

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer


def messages(log: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in log.records if r.levelno == level and text in r.getMessage()]


async def logged(log: pytest.LogCaptureFixture, level: int, text: str) -> None:
    """Poll the captured log (deadline 10 s) until a record at `level` contains `text`."""
    deadline = time.monotonic() + 10
    while not messages(log, level, text):
        assert time.monotonic() < deadline, f"{text!r} not logged"
        await asyncio.sleep(0.02)


def test_a_misspelt_namespace_fails_start_with_a_clear_error(
    shared_server: ConfigdProcess, writer: Writer, ns: str, sdk_log: pytest.LogCaptureFixture
) -> None:
    writer.create(ns)
    writer.put(ns, "k", 1)
    typo = ns + "b"
    client = ConfigClient(typo, addr=shared_server.grpc_addr, start_timeout=30)
    started = time.monotonic()
    with pytest.raises(NamespaceNotFound) as info, client:
        pass
    assert time.monotonic() - started < 10  # at once, not after start_timeout
    assert str(info.value) == (
        f"configd: namespace {typo!r} does not exist on configd at {shared_server.grpc_addr}. "
        f"Check the spelling, or create it (configctl ns create {typo}); to start before it "
        "exists, pass missing='wait' (wait until it is created) or missing='defaults' (serve "
        "the defaults until then)"
    )
    assert client.status.state is ClientState.CLOSED
    assert client.status.missing == {typo}
    assert messages(sdk_log, logging.ERROR, f"namespace {typo!r} does not exist")


async def test_several_namespaces_name_every_missing_one(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    client = AsyncConfigClient([ns, ns + "-x", ns + "-y"], addr=shared_server.grpc_addr)
    with pytest.raises(NamespaceNotFound, match=f"namespaces '{ns}-x', '{ns}-y' do not exist"):
        await client.start()


async def test_a_cache_does_not_hide_a_namespace_the_server_says_is_gone(
    shared_server: ConfigdProcess, writer: Writer, ns: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.json"
    writer.create(ns)
    writer.put(ns, "k", 1)
    async with AsyncConfigClient(ns, addr=shared_server.grpc_addr, cache_path=cache) as client:
        assert client.get("k") == 1
    assert cache.exists()
    writer.delete_namespace(ns)
    client = AsyncConfigClient(ns, addr=shared_server.grpc_addr, cache_path=cache)
    with pytest.raises(NamespaceNotFound, match=f"namespace {ns!r} does not exist"):
        await client.start()


async def test_missing_wait_waits_for_the_namespace_to_be_created(
    shared_server: ConfigdProcess, writer: Writer, ns: str, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = AsyncConfigClient(ns, addr=shared_server.grpc_addr, missing="wait", start_timeout=30)
    start = asyncio.create_task(client.start())
    try:
        await logged(sdk_log, logging.WARNING, f"namespace {ns!r} does not exist")
        assert not start.done()
        assert client.status.missing == {ns}
        writer.create(ns)
        revision = writer.put(ns, "k", "v")
        await asyncio.wait_for(start, 10)
        await client.wait_for_revision(revision, timeout=10)
        assert client.get("k") == "v"
        assert client.status.missing == frozenset()
        assert client.status.error is None
        assert messages(sdk_log, logging.INFO, f"namespace {ns!r} was created at revision")
    finally:
        await client.aclose()


async def test_missing_wait_gives_up_after_the_start_timeout(
    shared_server: ConfigdProcess, ns: str
) -> None:
    client = AsyncConfigClient(ns, addr=shared_server.grpc_addr, missing="wait", start_timeout=0.5)
    with pytest.raises(NamespaceNotFound) as info:
        await client.start()
    assert str(info.value) == (
        f"configd: namespace {ns!r} does not exist on configd at {shared_server.grpc_addr}, "
        "and was not created within start_timeout=0.5s (missing='wait'). Create it (configctl "
        f"ns create {ns}) or pass start_timeout=None to wait as long as it takes"
    )
    assert client.status.state is ClientState.CLOSED


async def test_missing_defaults_starts_and_follows_creation_and_deletion(
    shared_server: ConfigdProcess, writer: Writer, ns: str, sdk_log: pytest.LogCaptureFixture
) -> None:
    options = ClientOptions(addr=shared_server.grpc_addr, missing="defaults")
    async with AsyncConfigClient(ns, options=options) as client:
        assert client.status.state is ClientState.CONNECTED
        assert client.get("k", "default") == "default"
        assert client.status.missing == {ns}
        assert isinstance(client.status.error, NamespaceNotFound)
        assert messages(sdk_log, logging.WARNING, "serving the defaults until it is created")

        writer.create(ns)
        revision = writer.put(ns, "k", "v")
        await client.wait_for_revision(revision, timeout=10)
        assert client.get("k", "default") == "v"
        assert (client.status.missing, client.status.error) == (frozenset(), None)

        revision = writer.delete_namespace(ns)
        await client.wait_for_revision(revision, timeout=10)
        assert client.get("k", "default") == "default"
        assert client.status.missing == {ns}
        assert isinstance(client.status.error, NamespaceNotFound)
        assert messages(sdk_log, logging.ERROR, f"namespace {ns!r} does not exist")


async def test_a_prefix_that_matches_nothing_yet_is_not_an_error(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    async with AsyncConfigClient(prefixes=[ns + "/"], addr=shared_server.grpc_addr) as client:
        assert client.snapshots() == {}
        assert (client.status.missing, client.status.error) == (frozenset(), None)
        writer.create(ns + "/a")
        revision = writer.put(ns + "/a", "k", 1)
        await client.wait_for_revision(revision, timeout=10)
        assert client.get("k", namespace=ns + "/a") == 1


def test_an_unknown_missing_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="missing='later' is not one of 'error', 'wait'"):
        ClientOptions(missing="later")  # type: ignore[arg-type]


async def test_started_from_the_cache_a_server_without_the_namespace_is_reported(
    configd_server: ConfigdProcess,
    own_writer: Writer,
    tmp_path: Path,
    sdk_log: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache.json"
    own_writer.create("svc/gone")
    own_writer.put("svc/gone", "k", 1)
    async with AsyncConfigClient("svc/gone", addr=configd_server.grpc_addr, cache_path=cache):
        pass
    configd_server.stop()
    async with AsyncConfigClient(
        "svc/gone", addr=configd_server.grpc_addr, cache_path=cache, backoff_max=0.5
    ) as client:
        assert client.status.state is ClientState.FROM_CACHE  # unreachable: the cache serves
        assert client.get("k") == 1
        configd_server.start()
        # Blocking: the client cannot reconnect before the namespace is gone.
        revision = own_writer.delete_namespace("svc/gone")
        await client.wait_for_revision(revision, timeout=15)
        status = client.status
        assert (status.state, status.source, status.missing) == (
            ClientState.CONNECTED,
            "server",
            {"svc/gone"},
        )
        assert isinstance(status.error, NamespaceNotFound)
        assert client.get("k") is None  # what the server says, not what the cache said
        assert messages(sdk_log, logging.ERROR, "namespace 'svc/gone' does not exist on configd")
