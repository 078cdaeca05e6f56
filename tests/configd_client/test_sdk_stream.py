"""WatchStream: every change set once, in order, across a server restart; losses by policy."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import pytest

from configd_client import ConnectOptions, Unavailable, WatchStream
from configd_client.errors import ConfigdError

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess
    from tests.configd_client.conftest import Writer

NS = "stream/a"


async def _change_sets(stream: WatchStream, count: int) -> list[int]:
    found: list[int] = []
    async for message in stream:
        if message.WhichOneof("event") == "change_set":
            found.append(message.change_set.revision)
            if len(found) == count:
                return found
    raise AssertionError("the stream ended")


async def test_replays_from_a_revision_and_resumes_after_a_crash(
    configd_server: ConfigdProcess, own_writer: Writer
) -> None:
    first = own_writer.create(NS)
    written = [first, *(own_writer.put(NS, "n", i) for i in range(3))]
    losses: list[tuple[str, bool]] = []

    def retry(error: ConfigdError, received: bool) -> bool:
        losses.append((type(error).__name__, received))
        return True

    connect = ConnectOptions(addr=configd_server.grpc_addr)
    async with WatchStream(
        connect, namespaces=[NS], start_revision=first, send_snapshot=False, retry=retry
    ) as stream:
        seen = await _change_sets(stream, len(written))
        assert stream.revision == written[-1]
        configd_server.kill()
        # The writer blocks this loop: these commit before the stream can reconnect.
        configd_server.start()
        written += [own_writer.put(NS, "n", i) for i in range(3, 6)]
        seen += await _change_sets(stream, 3)
    assert seen == written
    assert losses[0] == ("Unavailable", True)


async def test_a_loss_the_policy_refuses_ends_the_iteration_with_its_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{sock.getsockname()[1]}"
    refused: list[Any] = []

    def retry(error: ConfigdError, received: bool) -> bool:
        refused.append(received)
        return False

    async with WatchStream(ConnectOptions(addr=addr), namespaces=[NS], retry=retry) as stream:
        with pytest.raises(Unavailable):
            await anext(stream)
    assert refused == [False]
