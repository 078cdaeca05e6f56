"""`configd serve --workers N` is one system: writes through any worker get one gap-free order,
a watch moved between workers sees it exactly once, compare-and-set has one winner (issue 16).

Writers and watchers each have a channel of their own; a watcher moves to a chosen worker
through that worker's own gRPC socket (worker_probes.worker_channel), so a move is certain to
change worker. The scenarios are replica_scenarios.py's, shared with the PostgreSQL replicas;
the random choices come from one seed, printed with any failure (rerun with
CONFIGD_TEST_SEED=<seed>).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.server.replica_scenarios import (
    cas_one_winner_per_round,
    random_writes_and_moving_watchers,
)
from tests.configd.server.worker_probes import (
    aio_channel,
    until,
    worker_channel,
    worker_pids,
)

WORKERS = 3


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """One supervisor for the module (starting workers takes seconds); tests use their own
    namespaces. Progress every 0.1 s: a watcher soon learns it has seen up to the head."""
    data = tmp_path_factory.mktemp("workers") / "data"
    with ConfigdProcess(data, "--watch-progress-interval", "0.1", workers=WORKERS) as server:
        until(lambda: len(worker_pids(server)) == WORKERS, "every worker listed")
        yield server


@pytest.fixture
async def stubs(workers: ConfigdProcess) -> AsyncIterator[dict[str, pb_grpc.ConfigServiceStub]]:
    """A stub per worker, by pid, each through that worker's own socket."""
    channels = {pid: worker_channel(workers, pid) for pid in sorted(worker_pids(workers))}
    try:
        yield {str(pid): pb_grpc.ConfigServiceStub(ch) for pid, ch in channels.items()}
    finally:
        for ch in channels.values():
            await ch.close(None)


async def test_random_writes_and_moving_watchers_agree_on_every_worker(
    workers: ConfigdProcess, stubs: dict[str, pb_grpc.ConfigServiceStub], seed: int
) -> None:
    # Writers: one per worker through its socket, one through the shared port.
    shared = aio_channel(workers)
    try:
        writers = [*stubs.values(), pb_grpc.ConfigServiceStub(shared)]
        await random_writes_and_moving_watchers(stubs, writers, seed)
    finally:
        await shared.close(None)


async def test_fifty_clients_cas_one_key_through_every_worker_one_winner_per_round(
    workers: ConfigdProcess, stubs: dict[str, pb_grpc.ConfigServiceStub]
) -> None:
    # 50 clients, each with a connection of its own; some through the shared port (the kernel
    # picks the worker), most pinned to a worker through its socket, so every worker races.
    pids = sorted(int(pid) for pid in stubs)
    channels = [
        aio_channel(workers) if i % 5 == 0 else worker_channel(workers, pids[i % len(pids)])
        for i in range(50)
    ]
    await cas_one_winner_per_round(channels, list(stubs.values()))
