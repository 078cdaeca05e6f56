"""A fault-injecting storage: the real SQLiteStorage, with faults a test arms on commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from configd.core.model import ChangeSet
from configd.storage.base import StoreHead
from configd.storage.sqlite.store import SQLiteStorage


class FaultyStorage(SQLiteStorage):
    """SQLiteStorage whose next commit can raise before storing anything, or wait for a test
    to release it (then store, or raise); whose history and revision-log reads can fail."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.fail_next: BaseException | None = None
        self.hold: asyncio.Event | None = None
        self.commit_started = asyncio.Event()
        self.commit_finished = asyncio.Event()
        self.history_fails: BaseException | None = None
        self.log_fails: BaseException | None = None  # raised by log_since and head while set

    async def commit(self, batch: Sequence[ChangeSet]) -> None:
        self.commit_started.set()
        try:
            if self.hold is not None:
                hold, self.hold = self.hold, None
                await hold.wait()
            error, self.fail_next = self.fail_next, None
            if error is not None:
                raise error
            await super().commit(batch)
        finally:
            self.commit_finished.set()

    async def history(
        self, namespace: str, key: str | None, before_revision: int, limit: int
    ) -> list[ChangeSet]:
        if self.history_fails is not None:
            raise self.history_fails
        return await super().history(namespace, key, before_revision, limit)

    async def log_since(self, after: int, limit: int) -> list[ChangeSet]:
        if self.log_fails is not None:
            raise self.log_fails
        return await super().log_since(after, limit)

    async def head(self) -> StoreHead:
        if self.log_fails is not None:
            raise self.log_fails
        return await super().head()
