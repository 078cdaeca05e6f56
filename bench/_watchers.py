"""Watcher client processes for the watch benchmarks, configd's and etcd's alike.

Each handle is one process holding `count` watch streams (one connection each, or
`per_connection` streams on each connection), driven in four steps: wait_open (every stream has
its first message, or how far opening got by a deadline), finish (the last revision written and
a deadline), report (receipt times per revision), close. Two kinds:

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
import os
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
class OpenProgress:
    """How far a client process got opening its streams."""

    ready: int  # streams that have their first message
    failed: int  # streams that ended before it (refused, reset, a connect error)
    errors: list[str]  # the first few error messages
    done: bool  # every stream is ready or failed
    seconds: float = 0.0
    # each stream's local TCP port (Node clients only): which server process holds it
    ports: list[int] = field(default_factory=list)


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
    # group label (set_groups) -> revision -> receipt times; receipts merges them
    by_group: dict[str, dict[int, bytes]] = field(default_factory=dict)


class WatcherProcess(Protocol):
    @property
    def pid(self) -> int: ...

    def wait_open(self, timeout: float) -> OpenProgress: ...

    def wait_ready(self, timeout: float) -> int: ...

    def set_groups(self, labels: list[str]) -> None: ...

    def finish(self, last_revision: int, deadline: float) -> None: ...

    def report(self, timeout: float) -> ClientReport: ...

    def close(self) -> None: ...


def _wait_ready(client: WatcherProcess, timeout: float) -> int:
    progress = client.wait_open(timeout)
    if not progress.done:
        raise RuntimeError(
            f"a client process opened {progress.ready} streams ({progress.failed} failed) and "
            f"no more in {timeout:.0f} s; errors: {progress.errors}"
        )
    return progress.failed


class PythonClients:
    """A spawned process running `target(conn, addr, count, first)`, which may send
    ("progress", ready, failed, errors) while opening, sends ("ready", open_seconds, failed),
    answers ("finish", last, deadline) with a ClientReport and exits on "exit"."""

    def __init__(
        self, target: Callable[[Connection, str, int, int], None], addr: str, count: int, first: int
    ) -> None:
        self._progress = OpenProgress(0, 0, [], False)
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

    def wait_open(self, timeout: float) -> OpenProgress:
        """Until every stream has its first message (or failed), or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while not self._progress.done:
            if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                break
            message = self._conn.recv()
            if message[0] == "progress":
                _, ready, failed, errors = message
                self._progress = OpenProgress(ready, failed, errors, False)
            else:
                tag, seconds, failed = message
                assert tag == "ready"
                self._progress = OpenProgress(
                    self._progress.ready, int(failed), self._progress.errors, True, seconds
                )
        return self._progress

    def wait_ready(self, timeout: float) -> int:
        """Blocks until every stream has its first message; the number that failed to open."""
        return _wait_ready(self, timeout)

    def set_groups(self, labels: list[str]) -> None:
        raise NotImplementedError(
            "Python watchers cannot tell which server process holds their connection "
            "(grpc.aio hides the local port): use Node watchers (--client node)"
        )

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
    `request` once, `per_connection` streams on each HTTP/2 connection."""

    def __init__(
        self,
        addr: str,
        count: int,
        first: int,
        protocol: str,
        request: Message,
        per_connection: int = 1,
    ) -> None:
        host, _, port = addr.rpartition(":")
        self._first = first
        self._progress = OpenProgress(0, 0, [], False)
        self._pending = b""
        self._process = subprocess.Popen(
            [
                "node",
                str(WATCH_CLIENT_JS),
                protocol,
                host,
                port,
                str(count),
                request.SerializeToString().hex(),
                str(per_connection),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    @property
    def pid(self) -> int:
        return self._process.pid

    def _read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line, reading the pipe's bytes directly: a buffered readline could
        hold a second line that select() then never reports."""
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 1 << 20) if ready else b""
            if not chunk:
                raise RuntimeError(
                    f"the Node.js client said nothing in {timeout:.0f} s (or exited)"
                )
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def _write(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write((json.dumps(message) + "\n").encode())
        self._process.stdin.flush()

    def wait_open(self, timeout: float) -> OpenProgress:
        deadline = time.monotonic() + timeout
        while not self._progress.done:
            try:
                message = self._read(max(0.0, deadline - time.monotonic()))
            except RuntimeError:
                if self._process.poll() is not None:  # it exited: opening is over, failed
                    self._progress.errors.append(
                        f"the Node.js client exited with code {self._process.returncode}"
                    )
                    self._progress.done = True
                break
            if "progress" in message:
                got = message["progress"]
                self._progress = OpenProgress(got["ready"], got["failed"], got["errors"], False)
            else:
                failed = int(message["failed"])
                self._progress = OpenProgress(
                    len(message["ports"]) - failed,
                    failed,
                    message.get("errors", []),
                    True,
                    float(message["ready"]),
                    [int(port) for port in message["ports"]],
                )
        return self._progress

    def wait_ready(self, timeout: float) -> int:
        return _wait_ready(self, timeout)

    def set_groups(self, labels: list[str]) -> None:
        """Keep receipts per label from now on (labels[i]: stream i's); waits for the ack."""
        self._write({"groups": labels})
        self._read(60)

    def finish(self, last_revision: int, deadline: float) -> None:
        wait_ms = max(100, int((deadline - time.monotonic()) * 1000))
        self._write({"finish": last_revision, "wait_ms": wait_ms})

    def report(self, timeout: float) -> ClientReport:
        import array

        raw = self._read(timeout)
        by_group = {
            group: {
                int(rev): array.array("q", [int(t) for t in times]).tobytes()
                for rev, times in by_revision.items()
            }
            for group, by_revision in raw["receipts"].items()
        }
        receipts: dict[int, bytes] = {}
        for by_revision in by_group.values():
            for rev, times in by_revision.items():
                receipts[rev] = receipts.get(rev, b"") + times
        return ClientReport(
            failed=raw["failed"],
            receipts=receipts,
            by_group=by_group,
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
