"""The watch hub: fan-out of committed change sets to watchers, with catch-up from history.

Contract (docs/architecture.md, "The watch contract"): change sets arrive in strictly
increasing revision order, each exactly once; a watch can start at any revision still in
history; below the compaction revision it gets a resync snapshot instead.

The hub sees the rest of the server through two narrow seams (configd.watch.feed): a
ChangeFeed (applied revision, namespaces, commit listeners) and a HistoryReader.

How the hand-over stays gap-free and duplicate-free: a watcher *subscribes first* (from then
on every matching change set is appended to its buffer), noting the revision R it subscribed
at. It then replays history up to R from the history reader (every revision <= R is durable
before it is published), and only then drains its buffer, skipping anything below the next
revision it owes. Subscribing and reading R happen in one step of the event loop, and the
feed publishes a batch in the step that advances its revision, so no change set can fall
between the two.

Bounded memory: each watcher's buffer holds at most `buffer_size` references to change sets
that are encoded once and shared by every watcher. Publishing never waits for a watcher: when
a buffer is full the watcher is marked lagging and its buffer dropped; its stream then
re-subscribes and catches up from history, and is live again once caught up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from configd.core.errors import InvalidArgument, LimitExceeded, Unavailable
from configd.core.limits import Limits
from configd.core.model import ChangeSet, Namespace
from configd.core.names import check_namespace, check_prefix
from configd.core.releases import ClientIdentity, targets, view_for
from configd.core.stats import Histogram
from configd.watch.feed import ChangeFeed, HistoryReader

log = logging.getLogger("configd.watch")


@dataclass(frozen=True, slots=True)
class Selector:
    """Which namespaces a watch follows: exact names and/or name prefixes."""

    names: frozenset[str]
    prefixes: tuple[str, ...]

    def matches(self, name: str) -> bool:
        return name in self.names or any(name.startswith(p) for p in self.prefixes)


class Encoder(Protocol):
    """Turns watch messages into wire bytes (the API layer provides it)."""

    def change_set(self, change_set: ChangeSet) -> bytes: ...

    def snapshot(
        self,
        revision: int,
        resync: bool,
        namespaces: Sequence[Namespace],
        compact_revision: int,
    ) -> bytes: ...

    def progress(self, revision: int, compact_revision: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class WatchOptions:
    buffer_size: int = 256
    progress_interval: float = 5.0
    catch_up_page: int = 256
    max_watchers: int = 100_000
    max_selectors: int = 1_000


class Watcher:
    """One watch stream's subscription: a bounded buffer of (revision, encoded change set,
    commit time)."""

    __slots__ = (
        "buffer",
        "check",
        "client",
        "last_sent",
        "limit",
        "next_revision",
        "overflowed",
        "owner",
        "progress_due",
        "progress_timer",
        "selector",
        "sent",
        "subscribed_at",
        "waiter",
    )

    def __init__(self, selector: Selector, limit: int) -> None:
        self.selector = selector
        self.limit = limit
        # A list, not a deque: an empty deque costs 760 bytes, a list 56, and with thousands
        # of streams that adds up; pop(0) on a buffer of at most `limit` entries is cheap.
        self.buffer: list[tuple[int, bytes, float, str]] = []
        # Set while the stream waits: a bare future, cheaper than an Event plus wait_for.
        self.waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        self.subscribed_at = 0
        self.next_revision = 0  # the lowest revision this stream still owes its client
        # Who may be cut off (a token name) and the check that does it, run on every wake.
        self.owner = ""
        self.check: Callable[[], None] | None = None
        # Progress: one timer per stream that lives as long as the stream, re-armed only when
        # it fires, so a delivery costs a clock read rather than a timer set and cancelled.
        self.last_sent = 0.0  # loop.time() of the last message handed to the stream
        self.progress_due = False
        self.progress_timer: asyncio.TimerHandle | None = None
        # Who watches (releases send their change sets to their slice only), and where to
        # note namespace -> (revision, commit time) of what was sent (for acks); None: not.
        self.client: ClientIdentity | None = None
        self.sent: dict[str, tuple[int, float]] | None = None


def _reaches(change_set: ChangeSet, watcher: Watcher) -> bool:
    """Whether a change set matching the watcher's selection is sent to it: a release's
    start and abort go to the release's slice only."""
    release = change_set.release
    return release is None or not change_set.for_slice or targets(release, watcher.client)


class WatchHub:
    """Fans out what `feed` publishes; catches watchers up from `history`."""

    def __init__(
        self,
        feed: ChangeFeed,
        history: HistoryReader,
        encoder: Encoder,
        *,
        limits: Limits,
        options: WatchOptions | None = None,
    ) -> None:
        self._feed = feed
        self._history = history
        self._limits = limits
        self._encoder = encoder
        self.options = options or WatchOptions()
        self._by_name: dict[str, set[Watcher]] = {}
        self._by_prefix: set[Watcher] = set()
        # One Selector object per distinct selection, with how many watchers hold it: most
        # streams select the same few namespaces, and each copy costs ~300 bytes.
        self._selectors: dict[Selector, tuple[Selector, int]] = {}
        self._count = 0
        self._closed = False
        # Set by fail(): raises the error every stream ends with (and new ones are refused).
        self._failed: Callable[[], None] | None = None
        self.lagging_moves = 0  # watchers moved from live to catch-up, for metrics
        # Live deliveries: seconds from a change set's commit time to handing it to the stream.
        self.delivery_lag = Histogram()
        # The last revision fanned out to the buffers: what progress may report.
        self._published = feed.revision
        feed.subscribe(self.publish)

    @property
    def watcher_count(self) -> int:
        return self._count

    # -- subscriptions ----------------------------------------------------------------------

    def selector(self, names: Iterable[str], prefixes: Iterable[str]) -> Selector:
        """Check a watch's selection and build its Selector."""
        limits = self._limits
        name_set = frozenset(check_namespace(n, limits, field="namespaces") for n in names)
        # Violations name the WatchRequest field ("prefixes"), as they do for "namespaces".
        prefix_list = tuple(
            dict.fromkeys(check_prefix(p, limits, field="prefixes") for p in prefixes)
        )
        if not name_set and not prefix_list:
            raise InvalidArgument(
                'select at least one namespace or prefix to watch (prefix "" watches all)',
                field="namespaces",
            )
        if len(name_set) + len(prefix_list) > self.options.max_selectors:
            raise LimitExceeded(
                f"a watch selects at most {self.options.max_selectors} names and prefixes; "
                "use a prefix instead of listing names",
                limit="max_selectors",
                value=self.options.max_selectors,
            )
        return Selector(name_set, prefix_list)

    def _subscribe(self, selector: Selector) -> Watcher:
        if self._closed:
            raise Unavailable("the server is shutting down; reconnect to a running server")
        if self._failed is not None:
            self._failed()
        if self._count >= self.options.max_watchers:
            raise LimitExceeded(
                f"the server holds its maximum of {self.options.max_watchers} watches "
                "(max_watchers); retry later",
                limit="max_watchers",
                value=self.options.max_watchers,
            )
        shared, holders = self._selectors.get(selector, (selector, 0))
        self._selectors[shared] = (shared, holders + 1)
        watcher = Watcher(shared, self.options.buffer_size)
        watcher.subscribed_at = self._feed.revision
        for name in selector.names:
            self._by_name.setdefault(name, set()).add(watcher)
        if selector.prefixes:
            self._by_prefix.add(watcher)
        self._count += 1
        return watcher

    def _unsubscribe(self, watcher: Watcher) -> None:
        for name in watcher.selector.names:
            group = self._by_name.get(name)
            if group is not None:
                group.discard(watcher)
                if not group:
                    del self._by_name[name]
        self._by_prefix.discard(watcher)
        shared, holders = self._selectors[watcher.selector]
        if holders > 1:
            self._selectors[shared] = (shared, holders - 1)
        else:
            del self._selectors[shared]
        self._count -= 1

    @staticmethod
    def _reset(watcher: Watcher, revision: int) -> None:
        """Start buffering afresh after `revision` (history covers the rest)."""
        watcher.buffer.clear()
        watcher.overflowed = False
        watcher.subscribed_at = revision

    # -- publishing (called by the feed, must never wait) ---------------------------------

    def publish(self, change_sets: Sequence[ChangeSet]) -> None:
        if change_sets:
            self._published = change_sets[-1].revision
        for change_set in change_sets:
            data: bytes | None = None
            sliced = change_set.release is not None and change_set.for_slice
            for watcher in self._targets(change_set.namespace):
                if watcher.overflowed or (sliced and not _reaches(change_set, watcher)):
                    continue
                if len(watcher.buffer) >= watcher.limit:
                    watcher.overflowed = True
                    watcher.buffer.clear()
                    self.lagging_moves += 1
                else:
                    if data is None:
                        data = self._encoder.change_set(change_set)
                    watcher.buffer.append(
                        (change_set.revision, data, change_set.time, change_set.namespace)
                    )
                self._wake(watcher)

    @staticmethod
    def _wake(watcher: Watcher) -> None:
        waiter = watcher.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _targets(self, name: str) -> Iterable[Watcher]:
        exact = self._by_name.get(name)
        if exact:
            yield from exact
        for watcher in self._by_prefix:
            if name not in watcher.selector.names and watcher.selector.matches(name):
                yield watcher

    def interrupt(self, owner: str) -> None:
        """Wake every stream of `owner` so it reruns its check (a token was revoked or expired).
        Rare, so a scan; publish() never looks at owners."""
        for watcher in {w for group in self._by_name.values() for w in group} | self._by_prefix:
            if watcher.owner == owner:
                self._wake(watcher)

    def close(self) -> None:
        """End every stream (with UNAVAILABLE: clients should reconnect elsewhere)."""
        self._closed = True
        for watcher in {w for group in self._by_name.values() for w in group} | self._by_prefix:
            self._wake(watcher)

    def fail(self, check: Callable[[], None]) -> None:
        """End every stream, and refuse every new one, with the error `check` raises (the
        store went back in time: what the hub would serve no longer exists). For good: only
        a new hub (a restart) serves watches again."""
        self._failed = check
        for watcher in {w for group in self._by_name.values() for w in group} | self._by_prefix:
            self._wake(watcher)

    # -- progress ---------------------------------------------------------------------------

    def _progress_tick(self, watcher: Watcher) -> None:
        """The watcher's progress timer: due once it has sent nothing for an interval."""
        loop = asyncio.get_running_loop()
        interval = self.options.progress_interval
        now = loop.time()
        if now - watcher.last_sent >= interval:
            watcher.progress_due = True
            self._wake(watcher)
            next_tick = now + interval
        else:
            next_tick = watcher.last_sent + interval
        watcher.progress_timer = loop.call_at(next_tick, self._progress_tick, watcher)

    # -- streams ----------------------------------------------------------------------------

    def _snapshot(self, watcher: Watcher, revision: int, resync: bool) -> bytes:
        """A snapshot as the watcher's client sees it (a release's slice: staged documents)."""
        selector, client = watcher.selector, watcher.client
        namespaces = [
            view_for(ns, client) if ns.release is not None else ns
            for name, ns in sorted(self._feed.namespaces.items())
            if selector.matches(name)
        ]
        if watcher.sent is not None:
            for ns in namespaces:
                watcher.sent[ns.name] = (revision, 0.0)
        return self._encoder.snapshot(revision, resync, namespaces, self._feed.compact_revision)

    def stream(
        self,
        selector: Selector,
        start_revision: int,
        send_snapshot: bool,
        *,
        min_revision: int = 0,
        owner: str = "",
        check: Callable[[], None] | None = None,
        client: ClientIdentity | None = None,
        sent: dict[str, tuple[int, float]] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """The encoded messages of one watch, until cancelled or the hub closes. Bad arguments
        raise here, before the stream starts. `min_revision`: start at no state older than
        this (wait, bounded, until applied). `client`: who watches, for releases; `sent`:
        filled with namespace -> (revision, commit time) of what the stream sent.

        `check` runs whenever the stream wakes and ends it by raising (a revoked token);
        interrupt(owner) wakes the owner's streams so they run it at once."""
        if start_revision < 0:
            raise InvalidArgument(
                "start_revision is negative; use 0 for now or last_seen + 1 to resume",
                field="start_revision",
            )
        if send_snapshot and start_revision:
            raise InvalidArgument(
                "send_snapshot needs start_revision 0 (a snapshot is of the current state); "
                "to resume, pass last_seen + 1 without a snapshot",
                field="send_snapshot",
            )
        if min_revision < 0:
            raise InvalidArgument(
                f"min_revision {min_revision} is negative; send 0 (no wait) or the highest "
                "revision you have seen",
                field="min_revision",
            )
        return self._stream(
            selector, start_revision, send_snapshot, min_revision, owner, check, client, sent
        )

    async def _stream(
        self,
        selector: Selector,
        start_revision: int,
        send_snapshot: bool,
        min_revision: int,
        owner: str,
        check: Callable[[], None] | None,
        client: ClientIdentity | None,
        sent: dict[str, tuple[int, float]] | None,
    ) -> AsyncGenerator[bytes, None]:
        """Live, catching up from history first and again whenever the watcher lags.

        One generator per stream for its whole life (thousands are held at once): catch-up
        runs in a second one only while it lasts."""
        feed = self._feed
        if start_revision - 1 > feed.revision:
            # Resumed here at last_seen + 1 after another replica: wait (bounded) until this
            # one has applied last_seen, or the client would miss what it has not seen yet.
            await feed.wait_applied(start_revision - 1, field="start_revision")
        if min_revision > feed.revision:
            # A snapshot (or "from now") no older than what the client already has.
            await feed.wait_applied(min_revision)
        watcher = self._subscribe(selector)
        watcher.owner = owner
        watcher.check = check
        watcher.client = client
        watcher.sent = sent
        loop = asyncio.get_running_loop()
        watcher.last_sent = loop.time()
        watcher.progress_timer = loop.call_at(
            watcher.last_sent + self.options.progress_interval, self._progress_tick, watcher
        )
        try:
            if start_revision == 0:
                watcher.next_revision = watcher.subscribed_at + 1
                if send_snapshot:
                    yield self._snapshot(watcher, watcher.subscribed_at, resync=False)
            else:
                watcher.next_revision = start_revision
            while True:
                if self._failed is not None:
                    self._failed()
                if watcher.check is not None:
                    watcher.check()
                if self._closed:
                    raise Unavailable("the server is shutting down; reconnect to a running server")
                if watcher.overflowed:
                    self._reset(watcher, feed.revision)
                if watcher.next_revision <= watcher.subscribed_at:
                    async for data in self._catch_up(watcher):
                        yield data
                # Live: drain the buffer, skipping what history already delivered.
                while watcher.buffer and not watcher.overflowed and self._failed is None:
                    revision, data, committed, name = watcher.buffer.pop(0)
                    if revision >= watcher.next_revision:
                        watcher.next_revision = revision + 1
                        self.delivery_lag.observe(time.time() - committed)
                        if watcher.sent is not None:
                            watcher.sent[name] = (revision, committed)
                        watcher.last_sent = loop.time()
                        yield data
                if watcher.overflowed or self._closed or self._failed is not None:
                    continue
                if watcher.progress_due:
                    # The buffer is empty and the watcher is not lagging, with no await since
                    # that was checked: every change set published so far has been delivered.
                    # Not feed.revision: progress never runs ahead of what this stream has
                    # been sent (etcd #15220), even from a feed whose revision were to move
                    # before its listeners run.
                    watcher.progress_due = False
                    watcher.last_sent = loop.time()
                    delivered = max(watcher.next_revision - 1, self._published)
                    yield self._encoder.progress(delivered, feed.compact_revision)
                    continue
                # Woken by a publish, the progress timer, interrupt() or close().
                watcher.waiter = loop.create_future()
                await watcher.waiter
        finally:
            watcher.progress_timer.cancel()
            self._unsubscribe(watcher)

    async def _catch_up(self, watcher: Watcher) -> AsyncGenerator[bytes, None]:
        """History from watcher.next_revision through the revision it subscribed at (or a
        resync snapshot when that is below the compaction revision)."""
        feed = self._feed
        loop = asyncio.get_running_loop()
        while watcher.next_revision <= watcher.subscribed_at:
            if watcher.next_revision < feed.compact_revision:
                self._reset(watcher, feed.revision)
                watcher.next_revision = watcher.subscribed_at + 1
                watcher.last_sent = loop.time()
                yield self._snapshot(watcher, watcher.subscribed_at, True)
                return
            page = await self._history.changes_since(
                watcher.next_revision, self.options.catch_up_page
            )
            if watcher.next_revision < feed.compact_revision:
                continue  # compaction ran while we read: the page may have holes
            if not page:
                watcher.next_revision = watcher.subscribed_at + 1
                return
            for change_set in page:
                if change_set.revision > watcher.subscribed_at:
                    watcher.next_revision = watcher.subscribed_at + 1
                    return
                watcher.next_revision = change_set.revision + 1
                if watcher.selector.matches(change_set.namespace) and _reaches(change_set, watcher):
                    watcher.last_sent = loop.time()
                    if watcher.sent is not None:
                        watcher.sent[change_set.namespace] = (change_set.revision, change_set.time)
                    yield self._encoder.change_set(change_set)
