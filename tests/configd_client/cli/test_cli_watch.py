"""`configctl watch`: live changes from the real console script; Ctrl-C exits 0."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from cli_helpers import CONFIGCTL, Configctl, Watcher

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess


@pytest.fixture
def watch(configctl: Configctl) -> Iterator[Callable[..., Watcher]]:
    started: list[Watcher] = []

    def start(*args: str) -> Watcher:
        started.append(Watcher(configctl, *args))
        return started[-1]

    yield start
    for watcher in started:
        watcher.close()


def test_watch_prints_changes_until_interrupted(
    configctl: Configctl, ns: str, watch: Callable[..., Watcher]
) -> None:
    configctl.ok("ns", "create", ns)
    watcher = watch(ns)
    assert watcher.read_line("stderr").startswith(f"watching {ns} at revision ")
    configctl.ok("put", ns, "region", '"eu"', "-m", "move")
    head = watcher.read_line()
    assert head.startswith("revision ")
    assert f"  {ns}  put  by " in head
    assert head.rstrip().endswith("'move'")
    assert watcher.read_line() == '  + region: "eu"\n'
    assert watcher.interrupt() == 0


def test_watch_prefix_as_json_lines(
    configctl: Configctl, ns: str, watch: Callable[..., Watcher]
) -> None:
    configctl.ok("ns", "create", f"{ns}/a")
    watcher = watch("--prefix", f"{ns}/", "-o", "json")
    watcher.read_line("stderr")
    configctl.ok("put", f"{ns}/a", "k", "1")
    configctl.ok("ns", "create", f"{ns}/b")
    first = json.loads(watcher.read_line())
    assert first["type"] == "change"
    assert first["namespace"] == f"{ns}/a"
    assert first["changes"] == [{"key": "k", "op": "add", "new": 1}]
    second = json.loads(watcher.read_line())
    assert (second["namespace"], second["kind"]) == (f"{ns}/b", "create-namespace")
    assert second["revision"] > first["revision"]
    assert watcher.interrupt() == 0


def test_watch_replays_from_a_revision(
    configctl: Configctl, ns: str, watch: Callable[..., Watcher]
) -> None:
    configctl.ok("ns", "create", ns)
    start = json.loads(configctl.ok("put", ns, "k", "1", "-o", "json").stdout)["revision"]
    configctl.ok("put", ns, "k", "2")
    watcher = watch(ns, "--from-revision", str(start), "-o", "json")
    values = [json.loads(watcher.read_line())["changes"][0]["new"] for _ in range(2)]
    assert values == [1, 2]
    assert watcher.interrupt() == 0


def test_watch_snapshot_first(configctl: Configctl, ns: str, watch: Callable[..., Watcher]) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "k", "true")
    watcher = watch(ns, "--snapshot", "-o", "json")
    snapshot = json.loads(watcher.read_line())
    assert snapshot["type"] == "snapshot"
    assert snapshot["namespaces"] == {ns: {"k": True}}
    assert watcher.interrupt() == 0


def test_watch_needs_a_target(configctl: Configctl) -> None:
    run = configctl("watch")
    assert run.code == 2


def test_watch_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, CONFIGD_ADDR=f"127.0.0.1:{port}")
    started = time.monotonic()
    done = subprocess.run(
        [CONFIGCTL, "watch", "x"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3
    assert done.stderr.startswith(f"Error: cannot reach configd at 127.0.0.1:{port}")
    assert time.monotonic() - started < 30


def test_watch_resumes_across_a_server_restart_without_gap_or_duplicate(
    configd_server: ConfigdProcess,
) -> None:
    configctl = Configctl(configd_server.grpc_addr)
    ns = "restart/watched"
    configctl.ok("ns", "create", ns)

    def put(value: int) -> int:
        run = configctl.ok("put", ns, "n", str(value), "-o", "json")
        return int(json.loads(run.stdout)["revision"])

    watcher = Watcher(configctl, ns, "-o", "json")
    try:
        assert watcher.read_line("stderr").startswith(f"watching {ns} at revision ")
        written = [put(i) for i in range(3)]
        seen = [json.loads(watcher.read_line())["revision"] for _ in written]

        configd_server.stop()
        note = watcher.read_line("stderr")
        assert note.endswith(f"; resuming from revision {written[-1] + 1}\n"), note
        configd_server.start()
        # Written while the watcher is still backing off: replayed on resume, exactly once.
        written += [put(i) for i in range(3, 6)]
        seen += [json.loads(watcher.read_line())["revision"] for _ in range(3)]
        written.append(put(6))  # and live again after the hand-over
        seen.append(json.loads(watcher.read_line())["revision"])
        assert seen == written
        assert watcher.interrupt() == 0
    finally:
        watcher.close()
