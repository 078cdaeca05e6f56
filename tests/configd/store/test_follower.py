"""The revision-log follower on a real SQLite file: it applies what another process commits,
in order and once, and never skips a hole (docs/architecture.md, "Replicas")."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from configd.core.model import ChangeSet, Entry, KeyChange, SchemaVersion, WriteKind
from configd.storage.sqlite.files import DB_FILE
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.follower import Follower
from configd.store.live import LiveState

SCHEMA = SchemaVersion(1, '{"type":"object"}', 1)


def create(revision: int) -> ChangeSet:
    return ChangeSet(revision, "ns", WriteKind.CREATE_NAMESPACE, (), "me", "", 0.0, SCHEMA, 1)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"not within 10 s: {what}"
        await asyncio.sleep(0.005)


def insert_put(db: sqlite3.Connection, revision: int, key: str) -> None:
    """A put stored by hand, as a buggy or half-visible writer might leave the log."""
    db.execute(
        "INSERT INTO revisions VALUES (?, 'ns', ?, 'me', '', 0.0, 1, 1, NULL)",
        (revision, WriteKind.PUT.value),
    )
    db.execute(
        "INSERT INTO changes VALUES ('ns', ?, ?, NULL, NULL, NULL, NULL, '1', ?, 1)",
        (key, revision, revision),
    )


async def test_the_follower_applies_in_order_and_waits_out_a_hole(tmp_path: Path) -> None:
    writer = SQLiteStorage(tmp_path)
    await writer.open()
    reader = SQLiteStorage(tmp_path)
    stored = await reader.open()
    state = LiveState(stored.revision, stored.compact_revision, stored.namespaces)
    batches: list[list[int]] = []

    def listener(change_sets: Sequence[ChangeSet]) -> None:
        batches.append([cs.revision for cs in change_sets])

    state.add_listener(listener)
    follower = Follower(reader, state, hole_alarm=0.05, hole_retry=0.01)
    follower.start()
    raw = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    try:
        await writer.commit([create(1)])
        await until(lambda: state.revision == 1, "revision 1 applied")
        # Revision 3 without 2: a hole. Never skipped, alarmed once it lasts.
        insert_put(raw, 3, "b")
        await until(lambda: follower.holes >= 1, "the hole is alarmed")
        assert state.revision == 1
        assert "b" not in state.namespaces["ns"].entries
        insert_put(raw, 2, "a")
        await until(lambda: state.revision == 3, "2 and 3 applied once the hole is filled")
        assert sorted(state.namespaces["ns"].entries) == ["a", "b"]
        assert [r for batch in batches for r in batch] == [1, 2, 3]
        entry = state.namespaces["ns"].entries["a"]
        assert entry == Entry("1", 1, 2, 2, 1)
        # Whichever connection stored a revision (here its own storage, with no writer to
        # apply it), what the live state has not applied comes from the log, in order.
        await reader.commit(
            [
                ChangeSet(
                    4,
                    "ns",
                    WriteKind.PUT,
                    (KeyChange("c", None, Entry("2", 2, 4, 4, 1)),),
                    "me",
                    "",
                    0.0,
                    SCHEMA,
                    1,
                )
            ]
        )
        await writer.commit(
            [
                ChangeSet(
                    5,
                    "ns",
                    WriteKind.SET_SCHEMA,
                    (),
                    "me",
                    "",
                    0.0,
                    SchemaVersion(2, '{"type":"object"}', 5),
                    1,
                )
            ]
        )
        await until(lambda: state.revision == 5, "revisions 4 and 5 applied")
        assert [r for batch in batches for r in batch] == [1, 2, 3, 4, 5]
        assert state.namespaces["ns"].schema.version == 2
        assert follower.applied == 5
    finally:
        raw.close()
        await follower.stop()
        await reader.close()
        await writer.close()
