"""Replicas for client tests: several `configd serve` processes sharing one data directory,
each on its own loopback port (DESIGN.md, "Replicas"), and an address nothing listens on."""

from __future__ import annotations

import socket
from pathlib import Path

from configd.testing import ConfigdProcess


def dead_addr() -> str:
    """A loopback address with nothing listening (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


class ReplicaSet:
    """`count` real servers on one SQLite store; `addr` lists them all as a client gets them."""

    def __init__(self, data_dir: Path, count: int, *args: str) -> None:
        self.servers = [ConfigdProcess(data_dir, *args) for _ in range(count)]

    @property
    def addrs(self) -> list[str]:
        return [server.grpc_addr for server in self.servers]

    @property
    def addr(self) -> str:
        return ",".join(self.addrs)

    def at(self, addr: str) -> ConfigdProcess:
        """The server at `addr`."""
        return next(server for server in self.servers if server.grpc_addr == addr)

    def __enter__(self) -> ReplicaSet:
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for server in self.servers:
            server.stop()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
