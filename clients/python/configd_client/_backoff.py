"""Exponential backoff with jitter between reconnect attempts."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from `initial` up to `maximum`, each drawn from [delay/2, delay].

    The random half keeps a fleet of clients from reconnecting in lock-step after a server
    restart ("equal jitter"); the fixed half keeps the delay from collapsing to zero.
    """

    def __init__(
        self,
        initial: float = 0.05,
        maximum: float = 5.0,
        multiplier: float = 2.0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or multiplier < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and multiplier >= 1")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        """The delay before the next attempt (grows with each call until reset)."""
        ceiling = min(self.maximum, self.initial * self.multiplier**self._attempt)
        if ceiling < self.maximum:
            self._attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def longest(self) -> float:
        """A delay at the cap, for errors that retrying soon will not fix (bad credentials)."""
        return self.maximum / 2 + self._rng.uniform(0, self.maximum / 2)

    def reset(self) -> None:
        self._attempt = 0
