"""What a backend's doorbell noticed, and waiting for it to move: the store's head (for
Storage.next_head / noticed_head) and the token generation (for TokenStore.wait_change).
One implementation for every backend; only how the doorbell notices differs (SQLite's
thread polling data_version, PostgreSQL's LISTEN connection)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from configd.storage.base import StoreHead


def is_news(head: StoreHead, last: StoreHead | None, own_revision: int) -> bool:
    """Whether a doorbell reports `head` (read after `last`): the first read, a revision
    another process committed (past `own_revision`, this process's last commit), or a
    compaction."""
    return (
        last is None
        or head.revision > own_revision
        or head.compact_revision != last.compact_revision
    )


class NoticedHead:
    """The head as last noticed, and the token generation's listeners. On the event loop."""

    def __init__(self) -> None:
        self._head = StoreHead(0, 0)
        self._moved: asyncio.Event | None = None
        self._token_listeners: list[Callable[[int], None]] = []

    def start(self, head: StoreHead) -> None:
        """From now on, `head` (as loaded at open) and what the doorbell reports."""
        self._head = head
        self._moved = asyncio.Event()

    def close(self) -> None:
        if self._moved is not None:
            self._moved.set()  # a waiter returns now

    @property
    def started(self) -> bool:
        return self._moved is not None

    @property
    def head(self) -> StoreHead:
        return self._head

    def noticed(self, head: StoreHead) -> None:
        """The doorbell's (or a fresh read's) report; the head only ever moves forward."""
        if head.revision > self._head.revision or head.compact_revision > (
            self._head.compact_revision
        ):
            self._head = StoreHead(
                max(head.revision, self._head.revision),
                max(head.compact_revision, self._head.compact_revision),
            )
            if self._moved is not None:
                self._moved.set()

    async def next_head(self, known: StoreHead, within: float) -> StoreHead:
        """Storage.next_head: the head once past `known`, or after `within` seconds."""
        moved = self._moved
        assert moved is not None, "start() first"
        head = self._head
        if head.revision <= known.revision and head.compact_revision <= known.compact_revision:
            moved.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await moved.wait()
        return self._head

    def tokens_noticed(self, generation: int) -> None:
        for listener in tuple(self._token_listeners):
            listener(generation)

    def follow_tokens(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """`listener(generation)` runs on the event loop whenever the doorbell sees the
        tokens' generation change (whichever process wrote); returns the unsubscriber."""
        self._token_listeners.append(listener)
        return lambda: self._token_listeners.remove(listener)


class NoticedGeneration:
    """A token store's side: the generation the doorbell last reported, and wait_change."""

    def __init__(self) -> None:
        self._noticed = 0
        self._moved = asyncio.Event()
        self._unfollow: Callable[[], None] | None = None

    def follow(self, head: NoticedHead, generation: int) -> None:
        """Start at `generation` (as loaded) and hear the doorbell of `head`."""
        self._noticed = generation
        self._unfollow = head.follow_tokens(self._generation_noticed)

    @property
    def following(self) -> bool:
        return self._unfollow is not None

    def close(self) -> None:
        if self._unfollow is not None:
            unfollow, self._unfollow = self._unfollow, None
            unfollow()
        self._moved.set()  # a waiter returns now

    def _generation_noticed(self, generation: int) -> None:
        # Taken as reported (the doorbell reports changes only), so a store that went back
        # does not leave wait_change() returning at once forever.
        moved = generation > self._noticed
        self._noticed = generation
        if moved:
            self._moved.set()

    async def wait_change(self, known: int, within: float) -> None:
        """TokenStore.wait_change."""
        if self._noticed > known or self._unfollow is None:
            return
        self._moved.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._moved.wait()
