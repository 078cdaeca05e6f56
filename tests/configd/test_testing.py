"""configd.testing.ConfigdProcess: the real server in a subprocess, as tests and benches use it."""

from __future__ import annotations

import urllib.request

import pytest

from configd.testing import ConfigdProcess


def healthz(server: ConfigdProcess) -> int:
    with urllib.request.urlopen(f"{server.http_url}/healthz", timeout=10) as reply:
        status: int = reply.status
        return status


def test_a_temporary_server_serves_and_leaves_nothing_behind() -> None:
    with ConfigdProcess() as server:
        assert healthz(server) == 200
        data_dir = server.data_dir
        assert (data_dir / "configd.db").exists()
        assert server.grpc_port != 0
    assert not data_dir.exists()
    assert server.process is None


def test_restart_keeps_the_ports() -> None:
    with ConfigdProcess() as server:
        ports = (server.grpc_port, server.http_port)
        first_pid = server.pid
        server.restart()
        assert (server.grpc_port, server.http_port) == ports
        assert server.pid != first_pid
        assert healthz(server) == 200


def test_a_server_that_cannot_start_says_why() -> None:
    server = ConfigdProcess(None, "--log-level", "chatty")
    with pytest.raises(RuntimeError, match="exited during start") as failure:
        server.start()
    assert "chatty" in str(failure.value)
    assert server.process is None
    server.close()
