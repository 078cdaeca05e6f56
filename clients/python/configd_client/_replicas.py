"""Replicas: which configd replica a client talks to now, the one place that decides it.

A client given several addresses (`addr="h1:7700,h2:7700"`) stays with one replica while it
answers, starting from a random one so a fleet of clients spreads over them. When a call or a
watch on it fails in a way another replica may cure (the retry rule of `_retry`, a lost watch),
the failed replica's channel is closed and the next one in the list is used; a replica that
comes back is used again once the client reaches it in its turn. Revisions are global across
replicas sharing a store, so a read with `min_revision` or a watch resumed at `last + 1`
behaves on the next replica as on the first.

`failed()` says whether the replica it moved to is untried since the last success: callers
move on at once then, and back off only after every replica has failed once (a round).
One address is the same machinery with one replica (a round is one failure).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, Self, TypeVar, cast

import grpc
import grpc.aio

from configd_client._channel import ConnectOptions, open_channel

StubT = TypeVar("StubT")


class Replicas:
    """The replicas of `connect.addr` and an open channel to the one in use."""

    def __init__(self, connect: ConnectOptions, *, rng: random.Random | None = None) -> None:
        self.connect = connect
        self.targets = connect.targets
        self._index = (rng or random).randrange(len(self.targets))
        self._channel: grpc.aio.Channel | None = None
        self._failed: set[int] = set()  # replicas that failed since the last success
        self._closed = False

    @property
    def current(self) -> str:
        """The target in use now (for messages)."""
        return self.targets[self._index]

    def channel(self) -> grpc.aio.Channel:
        """The channel to the replica in use, opened on first use after a move."""
        if self._closed:
            raise RuntimeError("configd: the client's connections are closed")
        if self._channel is None:
            self._channel = open_channel(self.connect, self.current)
        return self._channel

    async def connected(self, each_within: float) -> grpc.aio.Channel:
        """The channel of a replica that accepts a connection, trying each in turn
        (`each_within` seconds each), for calls that are never retried: connecting sends
        nothing, so moving on before the call is safe. With one replica, or none connecting,
        the current one."""
        if len(self.targets) > 1:
            for _ in self.targets:
                channel = self.channel()
                if await _connects(channel, each_within):
                    return channel
                await self.failed(channel)
        return self.channel()

    def routed(self, stub_type: Callable[[grpc.aio.Channel], StubT]) -> StubT:
        """A `stub_type` (a generated stub class) whose every call goes to the replica in use
        when the call is made, so a retry of `stub.Get` reaches the next replica."""
        return cast(StubT, _Routed(self, stub_type))

    def succeeded(self) -> None:
        """A call on the current replica worked: a later failure starts a new round."""
        self._failed.clear()

    async def failed(self, channel: grpc.aio.Channel | None, *, move: bool = True) -> bool:
        """A call on `channel` failed: close it (the next use connects afresh) and, with
        `move`, go to the next replica. True when that one has not failed in this round, so
        it may be tried without a backoff. A stale `channel` (another call moved already)
        changes nothing and is answered True."""
        if channel is not self._channel or channel is None:
            return channel is not None
        self._channel = None
        await channel.close(None)
        if not move:
            return False
        self._failed.add(self._index)
        self._index = (self._index + 1) % len(self.targets)
        if self._index in self._failed:
            if len(self._failed) == len(self.targets):
                self._failed.clear()  # every replica failed once: back off, then go round again
            return False
        return True

    async def aclose(self) -> None:
        """Close the open channel. Idempotent."""
        self._closed = True
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _connects(channel: grpc.aio.Channel, within: float) -> bool:
    """Whether `channel` becomes READY within `within` seconds (False at its first failure)."""
    try:
        async with asyncio.timeout(within):
            while (state := channel.get_state(try_to_connect=True)) is not (
                grpc.ChannelConnectivity.READY
            ):
                if state is grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                    return False
                await channel.wait_for_state_change(state)
    except TimeoutError:
        return False
    return True


class _Routed:
    """A stub that looks up the replica's channel at each call (see Replicas.routed)."""

    def __init__(self, replicas: Replicas, stub_type: Callable[[grpc.aio.Channel], Any]) -> None:
        self._replicas = replicas
        self._stub_type = stub_type
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            channel = self._replicas.channel()
            if channel is not self._channel:
                self._channel, self._stub = channel, self._stub_type(channel)
            return getattr(self._stub, name)(*args, **kwargs)

        return call
