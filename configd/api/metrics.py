"""Request metrics for every configd RPC: an API-layer wrapper around each method handler.

`RequestMetrics` counts every ConfigService/AdminService call by method and status code, with
its latency. api.handlers' one frame per call calls `observe` (and `code_of` on a failure)
before the error translation: it sees the domain exception itself (so schema violations are
counted as validation failures) and derives the final status code exactly as the translation
will. gRPC-Web calls are forwarded to the same gRPC server, so they are
counted here too. A grpc.aio ServerInterceptor would cost more per call (an extra coroutine
and a freshly wrapped handler per RPC, and it runs for health/reflection calls too) and would
only see the status after the translation, not the domain error.

The registry is the server's (configd.server.metrics.ServerMetrics): one per server, no
globals, so several servers can live in one process, as in tests.
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import Counter, Histogram

from configd.core.errors import ConfigdError, SchemaViolation
from configd.core.stats import LATENCY_BUCKETS


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

    def observe(self, method: str, code: str, seconds: float | None) -> None:
        """Count one finished call of `method` ("Service/Method"); time it unless None (a
        stream's duration is its lifetime, not a latency: streams are counted, not timed)."""
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

    def code_of(self, method: str, exc: BaseException, context: Any) -> str:
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
