"""Watcher client processes for the watch benchmarks, configd's and etcd's alike.

Each handle is one process holding `count` watch streams, one connection each, driven in four
steps: wait_ready (every stream has its first message), finish (the last revision written and a
deadline), report (receipt times per revision), close. Two kinds:

  * PythonClients: a spawned Python process running a grpc.aio client (the benchmark's own
    `target`, e.g. watch_bench.client_main), as a Python service would watch;
  * NodeClients: `node bench/watch_client.mjs`, raw gRPC over Node's built-in HTTP/2 (nghttp2,
    no npm packages). It spends a fraction of grpc.aio's CPU per delivery, which matters on a
    2-core machine where the watchers share the cores with the server under test.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from google.protobuf.message import Message

CLIENT_KINDS = ("node", "python")
WATCH_CLIENT_JS = Path(__file__).resolve().parent / "watch_client.mjs"


@dataclass
class ClientReport:
    failed: int
    # revision -> receipt times (time.time_ns, int64 array bytes), one per watcher that got it
    receipts: dict[int, bytes]
    complete: int  # watchers that received every revision up to the last one
    errors: list[str]
    open_seconds: float = 0.0
    # revision -> the change set's own time (configd stamps it just before the commit)
    stamps: dict[int, int] = field(default_factory=dict)


class WatcherProcess(Protocol):
    @property
    def pid(self) -> int: ...

    def wait_ready(self, timeout: float) -> int: ...

    def finish(self, last_revision: int, deadline: float) -> None: ...

    def report(self, timeout: float) -> ClientReport: ...

    def close(self) -> None: ...


class PythonClients:
    """A spawned process running `target(conn, addr, count, first)`, which sends
    ("ready", open_seconds, failed), answers ("finish", last, deadline) with a ClientReport
    and exits on "exit"."""

    def __init__(
        self, target: Callable[[Connection, str, int, int], None], addr: str, count: int, first: int
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child_end = ctx.Pipe()
        self._process = ctx.Process(
            target=target, args=(child_end, addr, count, first), daemon=True
        )
        self._process.start()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def wait_ready(self, timeout: float) -> int:
        """Blocks until every stream has its first message; the number that failed to open."""
        if not self._conn.poll(timeout):
            raise RuntimeError(f"a client process did not open its streams in {timeout:.0f} s")
        tag, _, failed = self._conn.recv()
        assert tag == "ready"
        return int(failed)

    def finish(self, last_revision: int, deadline: float) -> None:
        self._conn.send(("finish", last_revision, deadline))

    def report(self, timeout: float) -> ClientReport:
        if not self._conn.poll(timeout):
            raise RuntimeError("a client process did not report")
        report: ClientReport = self._conn.recv()
        return report

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("exit")
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()


class NodeClients:
    """`node bench/watch_client.mjs` with `count` streams of `protocol` ("configd": a
    ConfigService.Watch server stream; "etcd": a Watch.Watch bidirectional stream), each sent
    `request` once."""

    def __init__(self, addr: str, count: int, first: int, protocol: str, request: Message) -> None:
        host, _, port = addr.rpartition(":")
        self._first = first
        self._process = subprocess.Popen(
            [
                "node",
                str(WATCH_CLIENT_JS),
                protocol,
                host,
                port,
                str(count),
                request.SerializeToString().hex(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self._process.pid

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        line = self._process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the Node.js client said nothing in {timeout:.0f} s (or exited)")
        message: dict[str, Any] = json.loads(line)
        return message

    def _write(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()

    def wait_ready(self, timeout: float) -> int:
        return int(self._read(timeout)["failed"])

    def finish(self, last_revision: int, deadline: float) -> None:
        wait_ms = max(100, int((deadline - time.monotonic()) * 1000))
        self._write({"finish": last_revision, "wait_ms": wait_ms})

    def report(self, timeout: float) -> ClientReport:
        import array

        raw = self._read(timeout)
        return ClientReport(
            failed=raw["failed"],
            receipts={
                int(rev): array.array("q", [int(t) for t in times]).tobytes()
                for rev, times in raw["receipts"].items()
            },
            complete=raw["complete"],
            errors=[e.replace("watcher ", f"watcher {self._first}+", 1) for e in raw["errors"]],
            open_seconds=raw["open_seconds"],
            stamps={int(rev): int(stamp) for rev, stamp in raw["stamps"].items()},
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._write({"exit": True})
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
