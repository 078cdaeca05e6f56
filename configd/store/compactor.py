"""Background history retention: compacts what is older than the configured retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from configd.core.errors import ConfigdError
from configd.store.service import ConfigService

log = logging.getLogger("configd.compactor")


@dataclass(frozen=True, slots=True)
class Retention:
    """Keep a revision while it is among the last `keep_revisions` (0 = no count rule) or
    younger than `keep_seconds` (0 = no age rule). With both rules 0 nothing is compacted."""

    keep_revisions: int = 0
    keep_seconds: float = 30 * 24 * 3600.0
    interval_seconds: float = 60.0


class Compactor:
    def __init__(self, service: ConfigService, retention: Retention) -> None:
        self._service = service
        self._retention = retention
        self._task: asyncio.Task[None] | None = None

    async def target(self) -> int:
        """The compaction revision the retention asks for now (0 = nothing to drop), never
        past what the live processes sharing the store still need (the lowest applied
        revision + 1: ConfigService.compact refuses more)."""
        rules: list[int] = []
        if self._retention.keep_revisions > 0:
            rules.append(self._service.revision - self._retention.keep_revisions + 1)
        if self._retention.keep_seconds > 0:
            # Revisions newer than the cutoff are kept; the one at the cutoff is the oldest
            # still needed to read the state just after it.
            rules.append(
                await self._service.revision_at(time.time() - self._retention.keep_seconds)
            )
        if not rules:
            return 0
        floor = await self._service.applied_floor()
        if floor is not None:
            rules.append(floor + 1)
        # A revision is kept if any rule keeps it.
        return max(0, min(rules))

    async def run_once(self) -> int:
        """Compact as the retention asks, if this process is the store's maintainer (of the
        processes sharing a store, one compacts)."""
        if not self._service.maintainer:
            return self._service.compact_revision
        target = await self.target()
        if target > self._service.compact_revision:
            compacted = await self._service.compact(target)
            log.info("history compacted below revision %d", compacted)
        return self._service.compact_revision

    def start(self) -> None:
        if self._task is None and (
            self._retention.keep_revisions > 0 or self._retention.keep_seconds > 0
        ):
            self._task = asyncio.create_task(self._loop(), name="configd-compactor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._retention.interval_seconds)
            try:
                await self.run_once()
            except ConfigdError as exc:
                log.warning("compaction skipped: %s", exc.detail)
