"""The watch hub behind its seam (configd.watch.feed): it serves whatever a ChangeFeed applies,
not only what this process's writer committed.

The feed here follows a real SQLite store that the test commits to directly, as another
replica would; it is the shape of the coming revision-log follower (store first, then apply
and tell the listeners in one step). The hub reads catch-up history from the same store.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest

from configd.api.watch_encoding import ProtoEncoder
from configd.core.limits import Limits
from configd.core.model import ChangeSet, Entry, KeyChange, Namespace, SchemaVersion, WriteKind
from configd.storage.sqlite.store import SQLiteStorage
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

    def subscribe(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def commit_elsewhere(self, batch: Sequence[ChangeSet]) -> None:
        """Another process stores `batch`; this one notices and applies it."""
        await self.storage.commit(batch)
        namespaces = dict(self.namespaces)
        for name in {cs.namespace for cs in batch}:
            found = await self.storage.namespace_at(name, batch[-1].revision)
            if found is not None:
                namespaces[name] = found
        # One step: the new state, the revision and the listeners, with no await between.
        self.namespaces = namespaces
        self.revision = batch[-1].revision
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
