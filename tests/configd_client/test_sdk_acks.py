"""The acknowledgement sender against real servers: a configd, a gRPC server without
ReleaseService, a port nobody answers on. Retries back off, refusals are dropped, a server
that cannot take acks is left alone, and close flushes within its budget."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from configd_client import AsyncConfigClient
from configd_client._acks import RETRY_MAX, AckSender
from configd_client._backoff import Backoff
from configd_client.wire import release_pb2, release_pb2_grpc

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer

LOG = logging.getLogger("configd_client.test_acks")


class RecordingBackoff(Backoff):
    """The real backoff, remembering each delay it gave."""

    def __init__(self, initial: float, maximum: float) -> None:
        super().__init__(initial, maximum)
        self.delays: list[float] = []
        self.resets = 0

    def next(self) -> float:
        delay = super().next()
        self.delays.append(delay)
        return delay

    def reset(self) -> None:
        super().reset()
        self.resets += 1


async def until(condition: Callable[[], bool], what: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
async def configd_channel(shared_server: ConfigdProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(shared_server.grpc_addr) as channel:
        yield channel


@pytest.fixture
async def bare_server() -> AsyncIterator[str]:
    """A real gRPC server with no services at all: every method is UNIMPLEMENTED."""
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
def silent_addr() -> Iterator[str]:
    """A port that accepts TCP connections and never says a word (no HTTP/2)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_the_default_backoff_caps_at_five_seconds() -> None:
    assert RETRY_MAX == 5.0


async def test_failed_calls_back_off_exponentially_and_a_success_resets_it(
    configd_channel: grpc.aio.Channel, writer: Writer, ns: str
) -> None:
    writer.create(ns)
    revision = writer.put(ns, "k", 1)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_addr = f"127.0.0.1:{dead.getsockname()[1]}"
    dead.close()  # nothing listens there: UNAVAILABLE at once
    backoff = RecordingBackoff(0.01, 0.08)
    async with grpc.aio.insecure_channel(dead_addr) as dead_channel:
        current: list[grpc.aio.Channel] = [dead_channel]
        sender = AckSender("acks-backoff", lambda: current[0], LOG, backoff=backoff)
        sender.note(ns, revision, True)
        await until(lambda: len(backoff.delays) >= 6, "six retries")
        ceilings = [0.01, 0.02, 0.04, 0.08, 0.08, 0.08]
        for delay, ceiling in zip(backoff.delays, ceilings, strict=False):
            assert ceiling / 2 <= delay <= ceiling
        assert sender.sent == 0
        current[0] = configd_channel  # the server is reachable again: the pending ack goes
        await until(lambda: sender.sent == 1, "the ack delivered")
        assert backoff.resets == 1
        await sender.aclose()


async def test_invalid_argument_drops_the_acks_with_one_warning(
    configd_channel: grpc.aio.Channel,
    writer: Writer,
    ns: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer.create(ns)
    revision = writer.put(ns, "k", 1)
    caplog.set_level(logging.DEBUG, logger=LOG.name)
    backoff = RecordingBackoff(0.01, 0.08)
    sender = AckSender("acks-invalid", lambda: configd_channel, LOG, backoff=backoff)
    sender.note("Not A Namespace!", revision, True)  # malformed: retrying cannot help
    await until(lambda: sender.dropped == 1, "the refused ack dropped")
    await asyncio.sleep(0.3)  # no retry of it comes
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "refused 1 acknowledgement" in warnings[0].getMessage()
    assert "namespace" in warnings[0].getMessage()
    assert backoff.delays == []
    sender.note(ns, revision, True)  # the sender goes on with the next one
    await until(lambda: sender.sent == 1, "a valid ack delivered")
    await sender.aclose()


async def test_a_server_without_release_service_gets_no_more_acks(
    bare_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOG.name)
    async with grpc.aio.insecure_channel(bare_server) as channel:
        calls: list[int] = []

        def counting() -> grpc.aio.Channel:
            calls.append(1)
            return channel

        sender = AckSender("acks-old-server", counting, LOG)
        sender.note("app/a", 3, True)
        await until(lambda: sender.unsupported, "the sender to give up")
        for revision in range(4, 10):
            sender.note("app/a", revision, False, "vetoed")
        await asyncio.sleep(0.3)
        assert len(calls) == 1
        infos = [r for r in caplog.records if r.name == LOG.name and r.levelno >= logging.INFO]
        assert len(infos) == 1
        assert infos[0].levelno == logging.INFO
        assert "no ReleaseService" in infos[0].getMessage()
        started = time.monotonic()
        await sender.aclose()
        assert time.monotonic() - started < 0.1


async def test_close_never_hangs_on_a_server_that_does_not_answer(silent_addr: str) -> None:
    async with grpc.aio.insecure_channel(silent_addr) as channel:
        sender = AckSender("acks-silent", lambda: channel, LOG)
        sender.note("app/a", 3, True)
        await asyncio.sleep(0.1)  # the call is in flight, waiting for an answer
        started = time.monotonic()
        await sender.aclose()
        assert time.monotonic() - started < 0.6
        await sender.aclose()  # twice is harmless


async def test_close_flushes_the_last_ack_the_server_then_shows_it(
    shared_server: ConfigdProcess, writer: Writer, ns: str, configd_channel: grpc.aio.Channel
) -> None:
    writer.create(ns)
    client_id = f"acks-close-{ns.replace('/', '-')}"
    client = AsyncConfigClient(ns, addr=shared_server.grpc_addr, client_id=client_id)
    await client.start()
    revision = writer.put(ns, "k", 2)
    await client.wait_for_revision(revision, timeout=10)
    # Closed at once: the ack of `revision` is pending or in flight, and close sends it.
    started = time.monotonic()
    await client.aclose()
    assert time.monotonic() - started < 1.0
    stub: Any = release_pb2_grpc.ReleaseServiceStub(configd_channel)
    listed = await stub.ListClients(release_pb2.ListClientsRequest(namespace=ns))
    [mine] = [c for c in listed.clients if c.client_id == client_id]
    [applied] = [a for a in mine.applied if a.namespace == ns]
    assert applied.applied_revision == revision


async def test_an_ack_cut_off_by_its_channel_closing_is_sent_on_the_next_one(
    silent_addr: str, configd_channel: grpc.aio.Channel, writer: Writer, ns: str
) -> None:
    # A watch that reconnects closes the channel an Ack call may be waiting on; grpc.aio ends
    # that call with CancelledError. The ack must survive it, and so must the sender.
    writer.create(ns)
    revision = writer.put(ns, "k", 1)
    silent = grpc.aio.insecure_channel(silent_addr)
    current: list[grpc.aio.Channel] = [silent]
    sender = AckSender("acks-cut-off", lambda: current[0], LOG, backoff=Backoff(0.01, 0.05))
    sender.note(ns, revision, True)
    await asyncio.sleep(0.1)  # the call is in flight, waiting for an answer
    current[0] = configd_channel
    await silent.close()
    await until(lambda: sender.sent == 1, "the ack delivered on the new channel")
    sender.note(ns, revision + 0, False, "later outcomes still go out")
    await until(lambda: sender.sent == 2, "a later ack delivered")
    await sender.aclose()


async def test_an_ack_past_the_servers_revision_is_retried_not_dropped(
    configd_channel: grpc.aio.Channel, writer: Writer, ns: str
) -> None:
    # A client that moved to a replica behind the one it watched acks a revision this server
    # has not applied yet: UNAVAILABLE, so it is retried (here it never arrives).
    writer.create(ns)
    backoff = RecordingBackoff(0.01, 0.02)
    sender = AckSender("acks-early", lambda: configd_channel, LOG, backoff=backoff)
    sender.note(ns, 10**12, True)
    await until(lambda: len(backoff.delays) >= 3, "three retries")
    assert sender.dropped == 0
    assert sender.sent == 0
    await sender.aclose()
