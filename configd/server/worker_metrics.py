"""/metrics of the whole server under `configd serve --workers N`: every worker's series.

The workers share one port (SO_REUSEPORT), so a scrape lands on any one of them. Each worker
therefore publishes a snapshot of its own registry, every sample labelled `worker="<slot>"`,
to `<data_dir>/run/metrics-<pid>.json` about once a second (atomic replace), and its /metrics
renders its own series fresh and merges the other live workers' latest snapshots, one
HELP/TYPE per family.

Why not prometheus-client's multiprocess mode: its mmap-backed values make every counter
increment and histogram observation on the RPC path slower (measured ~2x), it is chosen by
an environment variable read at import (one mode per process, while tests run several
servers in one), and it cannot carry the scrape-time collectors (server/metrics.py
CoreCollector) nor the process collector. Here the hot path is untouched: publishing is one
registry collection per second per worker, off the RPC path.

The slot (0..N-1) comes from the supervisor: a replacement worker, after a death or in a
rolling replacement, continues its predecessor's slot, so the label set stays bounded and a
slot's counters simply reset (normal Prometheus behaviour). While an old and a new worker of
one slot both run (a rolling replacement), the newer one's series are shown. A snapshot is
skipped once its pid is gone (and its file removed) or when it was not rewritten for
`STALE_SECONDS` (a pid reused by another process after a SIGKILL).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from configd.server.workers import WorkerFile, read_live

STALE_SECONDS = 10.0
LABEL = "worker"

Family = dict[str, Any]
"""One metric family as JSON: name, help, type, unit and samples [[name, labels, value]]."""


def snapshot(registry: CollectorRegistry, slot: str) -> list[Family]:
    """The registry's families now, every sample labelled with the worker's slot."""
    return [
        {
            "name": metric.name,
            "help": metric.documentation,
            "type": metric.type,
            "unit": metric.unit,
            "samples": [[s.name, {**s.labels, LABEL: slot}, s.value] for s in metric.samples],
        }
        for metric in registry.collect()
    ]


@dataclass(frozen=True, slots=True)
class _Worker:
    pid: int
    slot: int
    started_at: float
    families: list[Family]


class _Merged:
    """A collector of several workers' families: one Metric per name, workers in slot order.

    A family is typed by the lowest slot that has it, whichever worker renders; another
    worker's family of that name but another type (a rolling upgrade changed it) is left
    out."""

    def __init__(self, workers: list[_Worker]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for worker in self._workers:
            for family in worker.families:
                metric = merged.get(family["name"])
                if metric is None:
                    metric = Metric(family["name"], family["help"], family["type"], family["unit"])
                    merged[family["name"]] = metric
                elif metric.type != family["type"]:
                    continue
                for name, labels, value in family["samples"]:
                    metric.add_sample(name, labels, value)
        return iter(merged.values())


class WorkerMetrics:
    """One worker's part: publishing its snapshot and rendering every live worker's."""

    def __init__(self, registry: CollectorRegistry, data_dir: Path, slot: int) -> None:
        self._registry = registry
        self._data_dir = data_dir
        self._slot = slot
        self._pid = os.getpid()
        self._started_at = time.time()
        self._file = WorkerFile(data_dir, "metrics", self._page)

    def _page(self) -> dict[str, Any]:
        return {
            "slot": self._slot,
            "started_at": self._started_at,
            "updated_at": time.time(),
            "families": snapshot(self._registry, str(self._slot)),
        }

    def start(self) -> None:
        self._file.start()

    def publish(self) -> None:
        self._file.write()

    def _others(self) -> Iterator[_Worker]:
        now = time.time()
        for page in read_live(self._data_dir, "metrics"):
            try:
                worker = _Worker(
                    page["pid"],
                    int(page["slot"]),
                    float(page["started_at"]),
                    list(page["families"]),
                )
                updated_at = float(page["updated_at"])
            except (ValueError, KeyError, TypeError):
                continue  # not ours to read
            if worker.pid == self._pid:
                continue  # this worker's own series are rendered fresh
            if now - updated_at > STALE_SECONDS:
                continue
            yield worker

    def workers(self) -> list[_Worker]:
        """This worker (fresh) and the others, the newest of each slot, in slot order."""
        own = _Worker(
            self._pid, self._slot, self._started_at, snapshot(self._registry, str(self._slot))
        )
        newest: dict[int, _Worker] = {own.slot: own}
        for worker in self._others():
            seen = newest.get(worker.slot)
            if seen is None or worker.started_at > seen.started_at:
                newest[worker.slot] = worker
        return sorted(newest.values(), key=lambda w: w.slot)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every live worker and its content type."""
        return generate_latest(_Merged(self.workers())), CONTENT_TYPE_LATEST

    async def close(self) -> None:
        await self._file.close()
