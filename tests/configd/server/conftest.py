"""Fixtures of the server tests."""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture
def seed() -> int:
    """The run's random seed: CONFIGD_TEST_SEED, else a fresh one (printed, and noted on the
    failure's exception by replica_scenarios.with_seed)."""
    value = int(os.environ.get("CONFIGD_TEST_SEED") or random.randrange(1 << 32))
    print(f"random seed {value} (rerun with CONFIGD_TEST_SEED={value})")
    return value
