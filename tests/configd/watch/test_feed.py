"""The watch hub behind its seam (configd.watch.feed): it serves whatever a ChangeFeed applies,
not only what this process's writer committed.

The feed here follows a real SQLite store that the test commits to directly, as another
replica would; it is the shape of the coming revision-log follower (store first, then apply
and tell the listeners in one step). The hub reads catch-up history from the same store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest

from configd.api.watch_encoding import ProtoEncoder
from configd.core.limits import Limits
from configd.core.model import ChangeSet, Entry, KeyChange, Namespace, SchemaVersion, WriteKind
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.applied import AppliedWaiters
from configd.watch.feed import CommitListener
from configd.watch.hub import WatchHub, WatchOptions
from configd_client.wire import config_pb2 as pb

SCHEMA = SchemaVersion(1, '{"type":"object"}', 1)


class Follower:
    """A ChangeFeed over a store that others commit to."""

    def __init__(self, storage: SQLiteStorage) -> None:
        self.storage = storage
        self.revision = 0
        self.compact_revision = 0
        self.namespaces: Mapping[str, Namespace] = {}
        self._listeners: list[CommitListener] = []
        self._applied = AppliedWaiters(lambda: self.revision, 10.0)
        self.subscribe(self._applied.wake)

    def subscribe(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def wait_applied(self, revision: int, *, field: str = "min_revision") -> None:
        await self._applied.wait(revision, field=field)

    async def commit_elsewhere(self, batch: Sequence[ChangeSet]) -> None:
        """Another process stores `batch`; this one notices and applies it."""
        await self.store_elsewhere(batch)
        self.tell_listeners(batch)

    async def store_elsewhere(self, batch: Sequence[ChangeSet]) -> None:
        """Store and apply `batch` without telling the listeners yet (tell_listeners does):
        out of the ChangeFeed contract, to show what the hub does not rely on."""
        await self.storage.commit(batch)
        namespaces = dict(self.namespaces)
        for name in {cs.namespace for cs in batch}:
            found = await self.storage.namespace_at(name, batch[-1].revision)
            if found is not None:
                namespaces[name] = found
        self.namespaces = namespaces
        self.revision = batch[-1].revision

    def tell_listeners(self, batch: Sequence[ChangeSet]) -> None:
        # commit_elsewhere: in the step that applied the batch, with no await between.
        for listener in self._listeners:
            listener(batch)

    async def compact(self, revision: int) -> None:
        self.compact_revision = revision  # raised before rows go, as the Protocol says
        await self.storage.compact(revision)


def create(revision: int, name: str) -> ChangeSet:
    schema = SchemaVersion(1, SCHEMA.schema_json, revision)  # set by this revision
    return ChangeSet(
        revision, name, WriteKind.CREATE_NAMESPACE, (), "me", "", 0.0, schema, revision
    )


def put_new(revision: int, name: str, key: str, create_revision: int) -> ChangeSet:
    """A put of a new key (so its old entry is None)."""
    entry = Entry("1", 1, revision, revision, 1)
    return ChangeSet(
        revision,
        name,
        WriteKind.PUT,
        (KeyChange(key, None, entry),),
        "me",
        "",
        0.0,
        SCHEMA,
        create_revision,
    )


@pytest.fixture
async def follower(tmp_path: Path) -> AsyncIterator[Follower]:
    storage = SQLiteStorage(tmp_path)
    await storage.open()
    try:
        yield Follower(storage)
    finally:
        await storage.close()


async def next_text(stream: AsyncGenerator[bytes, None]) -> str:
    """The stream's next message, named: "ns@revision" or "snapshot@revision ..."."""
    message = pb.WatchResponse.FromString(await anext(stream))
    if message.HasField("change_set"):
        return f"{message.change_set.namespace}@{message.change_set.revision}"
    snapshot = message.snapshot
    documents = ",".join(f"{d.namespace.name}:{d.document_json}" for d in snapshot.namespaces)
    return f"snapshot@{snapshot.revision} resync={snapshot.resync} {documents}"


async def test_history_then_live_from_a_feed_without_a_gap_or_duplicate(
    follower: Follower,
) -> None:
    await follower.commit_elsewhere([create(1, "a"), create(2, "b"), put_new(3, "a", "x", 1)])
    # Pages of two: the page read after revision 4 is live holds revisions 3 and 4, so history
    # and the live buffer both have 4, and it must still arrive once.
    hub = WatchHub(
        follower,
        follower.storage,
        ProtoEncoder(),
        limits=Limits(),
        options=WatchOptions(catch_up_page=2),
    )
    stream = hub.stream(hub.selector(["a"], []), start_revision=1, send_snapshot=False)
    try:
        assert await next_text(stream) == "a@1"  # subscribed at revision 3, replaying history
        await follower.commit_elsewhere([put_new(4, "a", "y", 1), put_new(5, "b", "z", 2)])
        await follower.commit_elsewhere([put_new(6, "a", "w", 1)])
        assert [await next_text(stream) for _ in range(3)] == ["a@3", "a@4", "a@6"]
        assert hub.watcher_count == 1
    finally:
        await stream.aclose()
        hub.close()
    assert hub.watcher_count == 0


async def test_below_the_feeds_compaction_revision_a_watch_gets_a_resync_snapshot(
    follower: Follower,
) -> None:
    await follower.commit_elsewhere([create(1, "a"), put_new(2, "a", "x", 1)])
    await follower.commit_elsewhere([put_new(3, "a", "y", 1)])
    await follower.compact(3)
    hub = WatchHub(follower, follower.storage, ProtoEncoder(), limits=Limits())
    stream = hub.stream(hub.selector([], ["a"]), start_revision=1, send_snapshot=False)
    try:
        assert await next_text(stream) == 'snapshot@3 resync=True a:{"x":1,"y":1}'
        await follower.commit_elsewhere([put_new(4, "a", "z", 1)])
        assert await next_text(stream) == "a@4"
    finally:
        await stream.aclose()
        hub.close()


async def next_kind(stream: AsyncGenerator[bytes, None]) -> str:
    """Like next_text, and "progress@revision" for a progress message."""
    message = pb.WatchResponse.FromString(await anext(stream))
    if message.HasField("progress"):
        return f"progress@{message.progress.revision}"
    if message.HasField("change_set"):
        return f"{message.change_set.namespace}@{message.change_set.revision}"
    return f"snapshot@{message.snapshot.revision}"


def fast_progress_watch(follower: Follower) -> tuple[WatchHub, AsyncGenerator[bytes, None]]:
    """A hub over `follower` with progress every 0.05 s, and a live watch of "a" on it."""
    hub = WatchHub(
        follower,
        follower.storage,
        ProtoEncoder(),
        limits=Limits(),
        options=WatchOptions(progress_interval=0.05),
    )
    return hub, hub.stream(hub.selector(["a"], []), start_revision=0, send_snapshot=False)


async def test_progress_reports_what_the_stream_was_sent_not_the_feeds_revision(
    follower: Follower,
) -> None:
    """etcd #15220: a progress that runs ahead of the stream lets a client skip changes.
    Even a feed whose revision moves before its listeners run (against its contract) must
    not make progress report a revision whose change set the stream has not been sent."""
    await follower.commit_elsewhere([create(1, "a"), put_new(2, "a", "x", 1)])
    hub, stream = fast_progress_watch(follower)
    try:
        assert await next_kind(stream) == "progress@2"
        batch = [put_new(3, "a", "y", 1)]
        await follower.store_elsewhere(batch)  # the feed says 3; the stream has not got a@3
        assert follower.revision == 3
        assert await next_kind(stream) == "progress@2"
        follower.tell_listeners(batch)
        assert await next_kind(stream) == "a@3"
        assert await next_kind(stream) == "progress@3"
    finally:
        await stream.aclose()
        hub.close()


async def test_a_buffered_change_set_goes_out_before_a_progress_that_covers_it(
    follower: Follower,
) -> None:
    """Within the contract: progress falls due while the stream's buffer holds a change set
    the client has not read; the change set comes first, then progress at its revision."""
    await follower.commit_elsewhere([create(1, "a")])
    hub, stream = fast_progress_watch(follower)
    try:
        assert await next_kind(stream) == "progress@1"
        await follower.commit_elsewhere([put_new(2, "a", "x", 1), put_new(3, "a", "y", 1)])
        # Let the progress timer fall due while the buffer holds both (the order is asserted
        # either way; the pause only makes the interesting case likely).
        await asyncio.sleep(0.1)
        assert [await next_kind(stream) for _ in range(3)] == ["a@2", "a@3", "progress@3"]
    finally:
        await stream.aclose()
        hub.close()


async def test_a_watch_ahead_of_the_feed_waits_for_what_the_follower_applies(
    follower: Follower,
) -> None:
    """start_revision = last_seen + 1 from a replica that is ahead: the stream waits until the
    follower has applied last_seen (woken through the feed's listeners), then goes on."""
    await follower.commit_elsewhere([create(1, "a"), create(2, "b")])
    hub = WatchHub(follower, follower.storage, ProtoEncoder(), limits=Limits())
    stream = hub.stream(hub.selector(["a"], []), start_revision=4, send_snapshot=False)
    first = asyncio.ensure_future(next_kind(stream))
    try:
        done, _ = await asyncio.wait({first}, timeout=0.2)
        assert not done  # waiting for revision 3
        await follower.commit_elsewhere([put_new(3, "a", "x", 1)])  # last_seen: not resent
        await follower.commit_elsewhere([put_new(4, "a", "y", 1)])
        assert await first == "a@4"
        assert hub.watcher_count == 1
    finally:
        await stream.aclose()
        hub.close()
