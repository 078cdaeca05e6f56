"""Shared fixtures: a real configd process on ephemeral loopback ports with a real SQLite file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from configd_client._proto.configd.v1 import admin_pb2_grpc, config_pb2_grpc

_ADDRESS = re.compile(r"configd: (grpc|http) listening on (?:https?://)?(\S+)")


class ConfigdProcess:
    """`configd serve` as a subprocess. Restarts reuse the same ports and data directory.

    Authentication is off (--no-auth) unless `auth=True`; then the bootstrap admin token is
    `admin_token` (read from <data_dir>/admin.token)."""

    def __init__(self, data_dir: Path, *extra_args: str, auth: bool = False) -> None:
        self.data_dir = data_dir
        self.extra_args = list(extra_args) if auth else ["--no-auth", *extra_args]
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.grpc_port = 0
        self.http_port = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def grpc_addr(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 30.0) -> None:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "configd",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--listen",
                f"127.0.0.1:{self.grpc_port}",
                "--http-listen",
                f"127.0.0.1:{self.http_port}",
                *self.extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        found: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while len(found) < 2:
            line = self.process.stdout.readline()
            if not line:
                code = self.process.wait()
                self.process.stdout.close()
                self.process = None
                raise RuntimeError(
                    f"configd exited during start (code {code}):\n"
                    + self.log_path.read_text()[-3000:]
                )
            match = _ADDRESS.search(line)
            if match:
                found[match.group(1)] = match.group(2)
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("configd did not print its addresses in time")
        self.grpc_port = int(found["grpc"].rsplit(":", 1)[1])
        self.http_port = int(found["http"].rsplit(":", 1)[1])

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None:
            return 0
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def admin_token(self) -> str:
        """The bootstrap admin token (servers started with auth=True)."""
        return (self.data_dir / "admin.token").read_text().strip()

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


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
