"""Fixtures for the gRPC-Web protocol tests: one configd with a CORS origin for them all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from grpcweb_helpers import ORIGIN

if TYPE_CHECKING:
    from tests.conftest import ConfigdProcess


def configd_process_class(config: pytest.Config) -> type[ConfigdProcess]:
    """The root conftest's ConfigdProcess (conftest modules are registered as plugins)."""
    for plugin in config.pluginmanager.get_plugins():
        cls: Any = getattr(plugin, "ConfigdProcess", None)
        if isinstance(cls, type):
            return cls
    raise RuntimeError("tests/conftest.py must define ConfigdProcess")


@pytest.fixture(scope="session")
def web_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConfigdProcess]:
    """A configd that allows ORIGIN for gRPC-Web (tests use distinct namespaces)."""
    server = configd_process_class(request.config)(
        tmp_path_factory.mktemp("grpcweb") / "data", "--cors-origin", ORIGIN
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConfigdProcess]:
    """A configd with authentication on (its admin token: `auth_server.admin_token`)."""
    server = configd_process_class(request.config)(
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
