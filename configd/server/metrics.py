"""Prometheus metrics of one server: its registry and the scrape-time collectors.

One CollectorRegistry per server (no globals, so several servers can live in one process, as
in tests), holding:

* the request metrics (configd.api.metrics.RequestMetrics, which wraps every RPC handler);
* `CoreCollector`, which reads the plain counters the core keeps (service revision, writer
  commit listener, watch hub, storage size) at scrape time, so storage, writer, watch and
  service never import prometheus_client;
* the process collector (memory, CPU, file descriptors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from configd import __version__
from configd.api.metrics import RequestMetrics
from configd.core.model import ChangeSet
from configd.core.stats import Histogram as PlainHistogram
from configd.storage.base import StorageAdmin
from configd.store.clients import ClientRegistry
from configd.store.service import ConfigService
from configd.watch.hub import WatchHub

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class WriteStats:
    """A commit listener: committed writes by kind (this process's and, applied from the
    revision log, other replicas'), and this process's group-commit sizes and latency."""

    def __init__(
        self, last_commit_seconds: Callable[[], float], last_own_revision: Callable[[], int]
    ) -> None:
        self._last_commit_seconds = last_commit_seconds
        self._last_own_revision = last_own_revision
        self.writes: dict[str, int] = {}
        self.batch_size = PlainHistogram(BATCH_BUCKETS)
        self.commit_seconds = PlainHistogram()

    def __call__(self, change_sets: Sequence[ChangeSet]) -> None:
        if change_sets[-1].revision == self._last_own_revision():  # not another replica's
            self.batch_size.observe(len(change_sets))
            self.commit_seconds.observe(self._last_commit_seconds())
        writes = self.writes
        for cs in change_sets:
            kind = cs.kind.name.lower()
            writes[kind] = writes.get(kind, 0) + 1


def _histogram(name: str, documentation: str, stats: PlainHistogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(
        name, documentation, buckets=stats.cumulative(), sum_value=stats.sum
    )


class CoreCollector:
    """Reads the core's plain counters at scrape time."""

    def __init__(
        self, service: ConfigService, hub: WatchHub, storage: StorageAdmin, writes: WriteStats
    ) -> None:
        self._service = service
        self._hub = hub
        self._storage = storage
        self._writes = writes

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unchecked collector: metrics are only known at collect time

    def collect(self) -> Iterator[Metric]:
        service, hub = self._service, self._hub
        info = GaugeMetricFamily("configd_build_info", "configd version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily(
            "configd_revision", "Current (last committed) revision.", value=service.revision
        )
        yield GaugeMetricFamily(
            "configd_compact_revision",
            "Compaction revision: history below it is gone.",
            value=service.compact_revision,
        )
        yield GaugeMetricFamily(
            "configd_namespaces", "Namespaces that exist now.", value=len(service.namespaces)
        )
        writes = CounterMetricFamily(
            "configd_writes", "Committed writes (revisions) by kind.", labels=["kind"]
        )
        for kind, count in sorted(self._writes.writes.items()):
            writes.add_metric([kind], count)
        yield writes
        yield _histogram(
            "configd_commit_batch_size",
            "Writes per group commit (one SQLite transaction and fsync).",
            self._writes.batch_size,
        )
        yield _histogram(
            "configd_commit_duration_seconds",
            "Time to store one group commit durably.",
            self._writes.commit_seconds,
        )
        yield GaugeMetricFamily(
            "configd_watchers", "Active watch streams.", value=hub.watcher_count
        )
        yield CounterMetricFamily(
            "configd_watch_lagging_moves",
            "Slow watchers moved from live delivery to catch-up from history.",
            value=hub.lagging_moves,
        )
        yield _histogram(
            "configd_watch_delivery_lag_seconds",
            "Live watch deliveries: seconds from a change set's commit to sending it.",
            hub.delivery_lag,
        )
        follower, writer = service.follower, service.writer
        yield CounterMetricFamily(
            "configd_log_applied_revisions",
            "Revisions other processes sharing the store committed, applied from the log.",
            value=follower.applied,
        )
        yield CounterMetricFamily(
            "configd_log_holes",
            "Times a missing revision held the revision-log follower up past its alarm bound.",
            value=follower.holes,
        )
        yield CounterMetricFamily(
            "configd_commit_replans",
            "Write batches planned again because another process committed first.",
            value=writer.replans,
        )
        yield GaugeMetricFamily(
            "configd_store_regressed",
            "1 once the store was found below the revision this process applied (commits "
            "lost); it refuses writes and watches until restarted.",
            value=int(service.regression.regressed),
        )
        yield GaugeMetricFamily(
            "configd_maintainer",
            "1 if this process runs the store's maintenance (compaction, checkpoints).",
            value=int(service.maintainer),
        )
        yield GaugeMetricFamily(
            "configd_database_size_bytes",
            "Size of the SQLite database and its WAL.",
            value=self._storage.disk_bytes(),
        )


class ReleaseCollector:
    """Releases, clients and their acknowledgements, read at scrape time."""

    def __init__(
        self, service: ConfigService, registry: ClientRegistry, writes: WriteStats
    ) -> None:
        self._service = service
        self._registry = registry
        self._writes = writes

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        service, registry = self._service, self._registry
        releases = GaugeMetricFamily(
            "configd_releases",
            "Releases: running now; promoted and aborted since this process started.",
            labels=["state"],
        )
        running = sum(1 for ns in service.namespaces.values() if ns.release is not None)
        releases.add_metric(["running"], running)
        for state in ("promoted", "aborted"):
            kind = "release_promote" if state == "promoted" else "release_abort"
            releases.add_metric([state], self._writes.writes.get(kind, 0))
        yield releases
        yield _histogram(
            "configd_ack_latency_seconds",
            "Seconds from a revision's commit to a client's acknowledgement of it (clients "
            "watching this process).",
            registry.ack_latency,
        )
        yield CounterMetricFamily(
            "configd_acks", "Acknowledgements received from clients.", value=registry.acks_received
        )
        clients = GaugeMetricFamily(
            "configd_clients",
            "Identified clients watching each namespace through this process.",
            labels=["namespace"],
        )
        behind = GaugeMetricFamily(
            "configd_clients_behind",
            "Of them, those that have not acknowledged the last revision they were sent.",
            labels=["namespace"],
        )
        counts: dict[str, list[int]] = {}
        for client_id, connections in registry.connections.items():
            sent: dict[str, int] = {}
            for connection in connections:
                for name, (revision, _) in connection.sent.items():
                    sent[name] = max(revision, sent.get(name, 0))
            for name, revision in sent.items():
                pair = counts.setdefault(name, [0, 0])
                pair[0] += 1
                pair[1] += registry.acked(client_id, name) < revision
        for name, (count, late) in sorted(counts.items()):
            clients.add_metric([name], count)
            behind.add_metric([name], late)
        yield clients
        yield behind


class ServerMetrics:
    """One server's registry: request metrics, the core collector and process metrics."""

    def __init__(
        self,
        service: ConfigService,
        hub: WatchHub,
        storage: StorageAdmin,
        clients: ClientRegistry | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = RequestMetrics(self.registry)
        self.writes = WriteStats(
            lambda: service.writer.last_commit_seconds, lambda: service.writer.last_revision
        )
        service.subscribe(self.writes)
        self.registry.register(CoreCollector(service, hub, storage, self.writes))
        if clients is not None:
            self.registry.register(ReleaseCollector(service, clients, self.writes))
        ProcessCollector(registry=self.registry)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
