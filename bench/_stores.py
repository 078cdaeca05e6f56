"""Where a benchmark's configd keeps its data: a SQLite data directory (one process), or a
throwaway PostgreSQL cluster shared by N replicas (`configd serve --store DSN` each).

    with Deployment("postgresql", replicas=2, serve_args=["--log-level", "warning"]) as d:
        d.servers[0].grpc_addr ...          # replica A; d.servers[-1] is replica B
        d.store_cpu()                       # {pid: CPU s} of the PostgreSQL processes

The cluster is configd.testing_postgres's (the tests' own), started once per Deployment with
a fresh database; its postmaster and backends are part of what a write costs on a shared
machine, so store_cpu() lets a benchmark report their CPU beside configd's.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from types import TracebackType

from _common import children, cpu_seconds

from configd.testing import ConfigdProcess
from configd.testing_postgres import PostgresCluster, cluster_root

STORES = ("sqlite", "postgresql")


class Deployment:
    """configd on `store`: one process on SQLite (`workers` as `serve --workers N`), or
    `replicas` processes on one PostgreSQL database."""

    def __init__(
        self, store: str, *, replicas: int = 1, serve_args: Sequence[str] = (), workers: int = 1
    ) -> None:
        if store not in STORES:
            raise ValueError(f"unknown store {store!r}; choose from {', '.join(STORES)}")
        if store == "sqlite" and replicas != 1:
            raise ValueError("replicas share a PostgreSQL database: use --store postgresql")
        self.store = store
        self.replicas = replicas
        self.serve_args = list(serve_args)
        self.workers = workers
        self.cluster: PostgresCluster | None = None
        self.servers: list[ConfigdProcess] = []
        self._stack = ExitStack()

    def __enter__(self) -> Deployment:
        try:
            if self.store == "sqlite":
                server = ConfigdProcess(None, *self.serve_args, workers=self.workers)
                self.servers = [self._stack.enter_context(server)]
                return self
            cluster = PostgresCluster(cluster_root())
            self._stack.callback(cluster.destroy)
            cluster.start()
            self.cluster = cluster
            dsn = cluster.create_database("configd_bench")
            for _ in range(self.replicas):
                server = ConfigdProcess(
                    None, "--store", dsn, *self.serve_args, workers=self.workers
                )
                self.servers.append(self._stack.enter_context(server))
            return self
        except BaseException:
            self._stack.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    @property
    def addrs(self) -> list[str]:
        return [server.grpc_addr for server in self.servers]

    def store_pids(self) -> list[int]:
        """The PostgreSQL processes: the postmaster and its children (backends, WAL writer,
        checkpointer...); none on SQLite."""
        if self.cluster is None:
            return []
        postmaster = self.cluster.pid()
        return [] if postmaster is None else [postmaster, *children(postmaster)]

    def store_cpu(self) -> dict[int, float]:
        """CPU seconds so far of every PostgreSQL process (store_pids)."""
        found = {}
        for pid in self.store_pids():
            try:
                found[pid] = cpu_seconds(pid)
            except OSError:
                continue  # exited meanwhile
        return found


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two store_cpu() readings: a process started meanwhile
    counts whole; one that exited meanwhile counts only up to `before` (lost)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
