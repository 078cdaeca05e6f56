"""Shared fixtures: a real configd process on ephemeral loopback ports with a real SQLite file,
and a real PostgreSQL cluster (configd/testing_postgres.py) with a fresh database per test."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd.testing_postgres import PostgresCluster, PostgresMissing, cluster_root
from configd_client.wire import admin_pb2_grpc, config_pb2_grpc
from tests.waits import MIN_REVISION_WAIT


@pytest.fixture
def configd_server(tmp_path: Path) -> Iterator[ConfigdProcess]:
    """A fresh server for one test."""
    server = ConfigdProcess(tmp_path / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """One server for a whole test module; tests use distinct namespaces."""
    server = ConfigdProcess(tmp_path_factory.mktemp("shared") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def short_wait_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """A server whose reads wait at most MIN_REVISION_WAIT s for a min_revision, with
    progress every 0.1 s: for the read-your-writes tests."""
    server = ConfigdProcess(
        tmp_path_factory.mktemp("short-wait") / "data",
        "--min-revision-wait",
        str(MIN_REVISION_WAIT),
        "--watch-progress-interval",
        "0.1",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def channel(shared_server: ConfigdProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(shared_server.grpc_addr) as ch:
        yield ch


@pytest.fixture
def config_stub(channel: grpc.aio.Channel) -> config_pb2_grpc.ConfigServiceStub:
    return config_pb2_grpc.ConfigServiceStub(channel)


@pytest.fixture
def admin_stub(channel: grpc.aio.Channel) -> admin_pb2_grpc.AdminServiceStub:
    return admin_pb2_grpc.AdminServiceStub(channel)


_counter = 0


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """A namespace name unique to this test (on a shared server)."""
    global _counter
    _counter += 1
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    return f"t/{name}-{_counter}"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the whole session; tests take fresh databases (pg_dsn).
    Never skipped: without PostgreSQL the tests fail, saying how to install it."""
    cluster = PostgresCluster(cluster_root())
    try:
        cluster.start()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_dsn(postgres_cluster: PostgresCluster) -> str:
    """The DSN of a fresh, empty database on the session's cluster."""
    if not postgres_cluster.running():  # a test killed or stopped it
        postgres_cluster.start()
    return postgres_cluster.create_database()
