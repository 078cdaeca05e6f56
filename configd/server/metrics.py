"""Prometheus metrics: request metrics for every configd RPC and a collector for the core.

Two parts, both per server (one CollectorRegistry each, no globals, so several servers can
live in one process, as in tests):

* `RequestMetrics` counts every ConfigService/AdminService call by method and status code,
  with its latency. It wraps each method handler once, at registration (`instrument`), inside
  the error translation: it sees the domain exception itself (so schema violations are
  counted as validation failures) and derives the final status code exactly as the
  translation will. gRPC-Web calls are forwarded to the same gRPC server, so they are counted
  here too. A grpc.aio ServerInterceptor would cost more per call (an extra coroutine and a
  freshly wrapped handler per RPC, and it runs for health/reflection calls too) and would only
  see the status after the translation, not the domain error.
* `CoreCollector` reads the plain counters the core keeps (service revision, writer commit
  listener, watch hub, database size) at scrape time, so storage, writer, watch and service
  never import prometheus_client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.metrics import Counter, Histogram
from prometheus_client.process_collector import ProcessCollector

from configd import __version__
from configd.api.method import Handler, behavior_of, is_streaming, with_behavior
from configd.core.errors import ConfigdError, SchemaViolation
from configd.core.model import ChangeSet
from configd.core.stats import LATENCY_BUCKETS
from configd.core.stats import Histogram as PlainHistogram
from configd.storage.sqlite.store import database_size
from configd.store.service import ConfigService
from configd.watch.hub import WatchHub

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class RequestMetrics:
    """configd_grpc_requests_total and configd_grpc_request_duration_seconds."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "configd_grpc_requests",
            "Finished configd RPCs (gRPC and gRPC-Web) by method and status code.",
            ["method", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "configd_grpc_request_duration_seconds",
            "Latency of unary configd RPCs by method and status code.",
            ["method", "code"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.validation_failures = Counter(
            "configd_validation_failures",
            "Writes refused because the resulting document did not satisfy the schema.",
            ["method"],
            registry=registry,
        )
        # Label children looked up once per (method, code), not on every call.
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def _observe(self, method: str, code: str, seconds: float | None) -> None:
        children = self._children.get((method, code))
        if children is None:
            children = (
                self.requests.labels(method, code),
                self.latency.labels(method, code),
            )
            self._children[(method, code)] = children
        children[0].inc()
        if seconds is not None:
            children[1].observe(seconds)

    def _failed(self, method: str, exc: BaseException, context: Any) -> str:
        """The status code the error translation will answer `exc` with."""
        if isinstance(exc, ConfigdError):
            if isinstance(exc, SchemaViolation):
                self.validation_failures.labels(method).inc()
            return exc.code
        if isinstance(exc, grpc.aio.AbortError):
            code = context.code()
            return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
        if not isinstance(exc, Exception):
            return "CANCELLED"  # asyncio.CancelledError or GeneratorExit: the client went away
        return "INTERNAL"

    def instrument(self, handler: Handler, method: str) -> Handler:
        """`handler` (an RpcMethodHandler) counted and timed; `method` is "Service/Method".

        A stream's duration is its lifetime, not a latency: streams are counted, not timed."""
        behavior = behavior_of(handler)
        timed = not is_streaming(handler)

        async def instrumented(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                response = await behavior(request, context)
            except BaseException as exc:
                elapsed = time.perf_counter() - started if timed else None
                self._observe(method, self._failed(method, exc, context), elapsed)
                raise
            self._observe(method, "OK", time.perf_counter() - started if timed else None)
            return response

        return with_behavior(handler, instrumented)


class WriteStats:
    """A writer commit listener: committed writes by kind, batch sizes, commit latency."""

    def __init__(self, last_commit_seconds: Callable[[], float]) -> None:
        self._last_commit_seconds = last_commit_seconds
        self.writes: dict[str, int] = {}
        self.batch_size = PlainHistogram(BATCH_BUCKETS)
        self.commit_seconds = PlainHistogram()

    def __call__(self, change_sets: Sequence[ChangeSet]) -> None:
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
        self, service: ConfigService, hub: WatchHub, data_dir: Path, writes: WriteStats
    ) -> None:
        self._service = service
        self._hub = hub
        self._data_dir = data_dir
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
        yield GaugeMetricFamily(
            "configd_database_size_bytes",
            "Size of the SQLite database and its WAL.",
            value=database_size(self._data_dir),
        )


class ServerMetrics:
    """One server's registry: request metrics, the core collector and process metrics."""

    def __init__(self, service: ConfigService, hub: WatchHub, data_dir: Path) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = RequestMetrics(self.registry)
        self.writes = WriteStats(lambda: service.writer.last_commit_seconds)
        service.writer.add_listener(self.writes)
        self.registry.register(CoreCollector(service, hub, data_dir, self.writes))
        ProcessCollector(registry=self.registry)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
