"""Rate limits: a token bucket per caller (writes per second per token)."""

from __future__ import annotations

import time


class TokenBucket:
    """`rate` events per second on average, bursts of up to `burst`."""

    __slots__ = ("burst", "level", "rate", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.level = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one event if the bucket has one; False means over the rate."""
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1.0:
            self.level -= 1.0
            return True
        return False


class RateLimiter:
    """One bucket per key (a token name). Keys are bounded by the number of tokens."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = max(1.0, rate if burst is None else burst)
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)
