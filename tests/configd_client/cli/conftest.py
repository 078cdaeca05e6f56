"""Fixtures for the configctl tests (helpers live in cli_helpers.py)."""

from __future__ import annotations

import pytest
from cli_helpers import Configctl


@pytest.fixture
def configctl(shared_server: object) -> Configctl:
    return Configctl(shared_server.grpc_addr)  # type: ignore[attr-defined]
