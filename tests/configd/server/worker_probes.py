"""Probes of a `configd serve --workers N` for the worker tests: polls with deadlines, the
live workers from /debug/configz, channels with a connection (hence a worker) of their own.

Which worker answered is /debug/configz's "pid"; the live workers are its "workers".
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from configd.testing import ConfigdProcess
from tests import waits

DEADLINE = 60.0
# A channel option that gives the channel a connection of its own: the kernel then picks a
# worker for it (SO_REUSEPORT) instead of grpc sharing one connection between channels.
OWN_CONNECTION = ("grpc.use_local_subchannel_pool", 1)


def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Poll `condition`; a connection refused or reset counts as "not yet": a connection the
    kernel queued on a worker just killed or stopped is reset (SO_REUSEPORT)."""
    end = time.monotonic() + deadline
    while True:
        try:
            if condition():
                return
        except (OSError, http.client.HTTPException):
            pass
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        time.sleep(0.02)


async def until_async(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """`until` for a test running on an event loop (the condition must not block)."""
    await waits.until_async(condition, what, deadline)


def configz(server: ConfigdProcess) -> dict[str, Any]:
    """/debug/configz over a fresh connection (so the kernel may pick any worker)."""
    with urllib.request.urlopen(f"{server.http_url}/debug/configz", timeout=10) as reply:
        page: dict[str, Any] = json.load(reply)
        return page


def worker_pids(server: ConfigdProcess) -> set[int]:
    return {int(w["pid"]) for w in configz(server)["workers"]}


def alive(pid: int) -> bool:
    """Running (a zombie left to an init that does not reap is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def channel(server: ConfigdProcess) -> grpc.Channel:
    """A channel with a connection of its own (not shared with other channels)."""
    return grpc.insecure_channel(server.grpc_addr, options=[OWN_CONNECTION])


def aio_channel(server: ConfigdProcess) -> grpc.aio.Channel:
    """An asyncio channel with a connection of its own."""
    return grpc.aio.insecure_channel(server.grpc_addr, options=[OWN_CONNECTION])


class Reader(threading.Thread):
    """Calls `read` in a loop until stopped, counting answers and failures."""

    def __init__(self, read: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self._read = read
        self.answers: list[object] = []
        self.failures: list[BaseException] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.answers.append(self._read())
            except Exception as exc:
                self.failures.append(exc)

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


def worker_channel(server: ConfigdProcess, pid: int) -> grpc.aio.Channel:
    """An asyncio channel to one given worker: its own gRPC Unix socket under run/ (the one
    its gRPC-Web gateway uses), so a test can choose the worker instead of the kernel."""
    path = server.data_dir.resolve() / "run" / f"grpc-{pid}.sock"
    return grpc.aio.insecure_channel(f"unix:{path}")
