"""Fixtures for the gRPC-Web protocol tests: one configd with a CORS origin for them all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from grpcweb_helpers import ORIGIN

from configd.testing import ConfigdProcess


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """A configd that allows ORIGIN for gRPC-Web (tests use distinct namespaces)."""
    server = ConfigdProcess(tmp_path_factory.mktemp("grpcweb") / "data", "--cors-origin", ORIGIN)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """A configd with authentication on (its admin token: `auth_server.admin_token`)."""
    server = ConfigdProcess(
        tmp_path_factory.mktemp("grpcweb-auth") / "data", "--cors-origin", ORIGIN, auth=True
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
