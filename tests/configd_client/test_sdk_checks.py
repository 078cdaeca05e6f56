"""add_check end to end: a real server, a release to the client's slice, and what the server
hears back. Async checks are awaited (their coroutine is truthy: unawaited, it would accept
everything)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from configd_client import AsyncConfigClient, ConfigClient, Snapshot
from configd_client.wire import release_pb2, release_pb2_grpc

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer

OUTCOME = release_pb2.AckOutcome
_NAMES = itertools.count()


@pytest.fixture
def ns(writer: Writer) -> str:
    name = f"svc/checks-{next(_NAMES)}"
    writer.create(name)
    writer.put(name, "pool", 10)
    return name


@pytest.fixture
async def releases(shared_server: ConfigdProcess) -> AsyncIterator[Any]:
    # Async stubs: polling the server must not block the client's loop (the same loop).
    async with grpc.aio.insecure_channel(shared_server.grpc_addr) as channel:
        yield release_pb2_grpc.ReleaseServiceStub(channel)


async def until(condition: Callable[[], Any], what: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def start_release(releases: Any, ns: str, document: dict[str, Any]) -> int:
    response = await releases.StartRelease(
        release_pb2.StartReleaseRequest(
            namespace=ns,
            document_json=json.dumps(document),
            selectors=[release_pb2.LabelSelector(label="zone", value="eu")],
            message="canary",
        )
    )
    return int(response.revision)


async def outcome_of(releases: Any, ns: str, client_id: str) -> tuple[int, str]:
    status = await releases.GetRelease(release_pb2.GetReleaseRequest(namespace=ns))
    for client in status.clients:
        if client.client_id == client_id:
            return int(client.outcome), str(client.reason)
    return OUTCOME.ACK_OUTCOME_PENDING, ""


async def abort(releases: Any, ns: str) -> None:
    await releases.AbortRelease(release_pb2.EndReleaseRequest(namespace=ns, message="done"))


async def test_an_async_check_that_vetoes_keeps_the_old_snapshot_and_reports_rejected(
    shared_server: ConfigdProcess, releases: Any, ns: str
) -> None:
    seen: list[Any] = []

    async def at_most_20(candidate: Snapshot) -> bool:
        await asyncio.sleep(0)  # a real suspension: the verdict only exists once awaited
        return int(candidate.get("pool", 0)) <= 20

    async with AsyncConfigClient(
        ns, addr=shared_server.grpc_addr, client_id=f"{ns}-eu", labels={"zone": "eu"}
    ) as client:
        client.add_check(at_most_20)
        client.on_change(lambda old, new, keys: seen.append(new.get("pool")))
        release = await start_release(releases, ns, {"pool": 50})

        async def rejected() -> bool:
            return (await outcome_of(releases, ns, client.client_id))[0] == (
                OUTCOME.ACK_OUTCOME_REJECTED
            )

        await until(rejected, "the server to hear the rejection")
        _, reason = await outcome_of(releases, ns, client.client_id)
        assert "at_most_20 returned False" in reason
        assert client.get("pool") == 10
        assert seen == []
        assert client.status.rejected == {ns}
        assert client.revision >= release
        await abort(releases, ns)


async def test_an_async_check_that_raises_vetoes_with_its_message(
    shared_server: ConfigdProcess, releases: Any, ns: str
) -> None:
    async def refuses(candidate: Snapshot) -> bool:
        await asyncio.sleep(0)
        raise ValueError(f"pool {candidate.get('pool')} is too big")

    async with AsyncConfigClient(
        ns, addr=shared_server.grpc_addr, client_id=f"{ns}-eu", labels={"zone": "eu"}
    ) as client:
        client.add_check(refuses)
        await start_release(releases, ns, {"pool": 50})

        async def rejected() -> bool:
            return (await outcome_of(releases, ns, client.client_id))[0] == (
                OUTCOME.ACK_OUTCOME_REJECTED
            )

        await until(rejected, "the server to hear the rejection")
        assert (await outcome_of(releases, ns, client.client_id))[1] == "pool 50 is too big"
        assert client.get("pool") == 10
        await abort(releases, ns)


async def test_an_async_check_that_accepts_lets_the_release_through(
    shared_server: ConfigdProcess, releases: Any, ns: str
) -> None:
    checked: list[int] = []

    async def at_most_100(candidate: Snapshot) -> bool:
        await asyncio.sleep(0)
        checked.append(int(candidate.get("pool", 0)))
        return int(candidate.get("pool", 0)) <= 100

    async with AsyncConfigClient(
        ns, addr=shared_server.grpc_addr, client_id=f"{ns}-eu", labels={"zone": "eu"}
    ) as client:
        client.add_check(at_most_100)
        release = await start_release(releases, ns, {"pool": 50})
        await client.wait_for_revision(release, timeout=15)
        assert client.get("pool") == 50
        assert checked == [50]

        async def applied() -> bool:
            return (await outcome_of(releases, ns, client.client_id))[0] == (
                OUTCOME.ACK_OUTCOME_APPLIED
            )

        await until(applied, "the server to hear the client applied it")
        assert client.status.rejected == frozenset()
        await abort(releases, ns)


def test_the_threaded_client_awaits_an_async_check_on_its_own_loop(
    shared_server: ConfigdProcess, writer: Writer, ns: str
) -> None:
    async def at_most_20(candidate: Snapshot) -> bool:
        await asyncio.sleep(0)
        return int(candidate.get("pool", 0)) <= 20

    with ConfigClient(ns, addr=shared_server.grpc_addr) as client:
        client.add_check(at_most_20)
        client.wait_for_revision(writer.put(ns, "pool", 50), timeout=15)
        assert client.get("pool") == 10
        assert client.status.rejected == {ns}
        client.wait_for_revision(writer.put(ns, "pool", 15), timeout=15)
        assert client.get("pool") == 15
        assert client.status.rejected == frozenset()
