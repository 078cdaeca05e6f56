"""Plain in-process statistics the core layers keep for metrics (no prometheus import here).

The core (writer, watch hub) only counts; configd.server.metrics reads these at scrape time and
presents them in the Prometheus format, so the core stays free of any metrics library.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Histogram:
    """Cumulative-on-read histogram: `observe` is one bisect and two additions."""

    __slots__ = ("buckets", "counts", "sum")

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, observations <= it) pairs, ending with "+Inf", as Prometheus wants."""
        total = 0
        out = []
        for bound, count in zip((*map(repr, self.buckets), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out
