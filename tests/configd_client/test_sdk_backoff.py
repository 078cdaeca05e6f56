"""Exponential backoff with jitter."""

from __future__ import annotations

import random

import pytest

from configd_client._backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(0.1, 1.0, rng=random.Random(1))
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    for ceiling in ceilings:
        delay = backoff.next()
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next() <= 0.1


def test_jitter_spreads_clients() -> None:
    delays = {Backoff(1.0, 1.0, rng=random.Random(seed)).next() for seed in range(20)}
    assert len(delays) == 20
    assert all(0.5 <= d <= 1.0 for d in delays)


def test_longest_is_at_the_cap() -> None:
    backoff = Backoff(0.1, 4.0)
    assert 2.0 <= backoff.longest() <= 4.0


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(0, 1)
