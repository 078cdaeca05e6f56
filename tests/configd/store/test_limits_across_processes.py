"""Limits checked in a write's plan hold for all processes sharing a store together (issue 16):
the plan runs against the state caught up to the store's head, whoever wrote it. Two
ConfigService objects over one directory, each with its own storage, as two processes have."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from configd.core.errors import LimitExceeded
from configd.core.limits import Limits
from configd.storage.sqlite.store import SQLiteStorage
from configd.store.service import ConfigService

ME = {"author": "tester", "message": ""}
LIMITS = Limits(max_namespaces=2, max_keys_per_namespace=2)


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[ConfigService, ConfigService]]:
    async with (
        ConfigService(SQLiteStorage(tmp_path), LIMITS) as a,
        ConfigService(SQLiteStorage(tmp_path), LIMITS) as b,
    ):
        yield a, b


async def test_the_namespace_count_is_global(
    replicas: tuple[ConfigService, ConfigService],
) -> None:
    a, b = replicas
    await a.create_namespace("one", "", **ME)
    await b.create_namespace("two", "", **ME)  # no wait for either to see the other's
    for service in (a, b):
        with pytest.raises(LimitExceeded, match="max_namespaces"):
            await service.create_namespace("three", "", **ME)


async def test_the_key_count_is_global(replicas: tuple[ConfigService, ConfigService]) -> None:
    a, b = replicas
    await a.create_namespace("app", "", **ME)
    await a.put("app", "k1", "1", **ME)
    await b.put("app", "k2", "2", **ME)
    for service in (a, b):
        with pytest.raises(LimitExceeded, match="max_keys_per_namespace"):
            await service.put("app", "k3", "3", **ME)
