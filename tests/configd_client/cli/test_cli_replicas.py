"""configctl --addr with several replicas (several `configd serve` on one store): commands
and `configctl watch` get past dead addresses and killed replicas; a malformed list is a
usage error naming --addr."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cli_helpers import Configctl, Watcher

from tests.replicas import ReplicaSet, dead_addr


def test_commands_get_past_dead_replicas(tmp_path: Path) -> None:
    with ReplicaSet(tmp_path / "data", 2) as replicas:
        # Two dead addresses among three: most runs start at a dead one (the start is random).
        configctl = Configctl(",".join([dead_addr(), dead_addr(), replicas.addrs[0]]))
        configctl.ok("ns", "create", "ha/cli")
        for value in range(4):
            put = configctl.ok("put", "ha/cli", "n", str(value), "-o", "json")
            assert configctl.ok("get", "ha/cli", "n", "--bare").stdout == f"{value}\n"
        revision = json.loads(put.stdout)["revision"]
        # An AdminService call, never retried. The other replica may not have applied the
        # last put yet, and compaction never passes what a live replica applied: wait for it.
        deadline = time.monotonic() + 10
        while (compact := configctl("compact", str(revision))).code != 0:
            assert "still needs the history" in compact.stderr, compact
            assert time.monotonic() < deadline, compact
            time.sleep(0.05)
        replicas.servers[0].kill()
        both = Configctl(",".join([dead_addr(), *replicas.addrs]))
        for value in range(4, 7):
            both.ok("put", "ha/cli", "n", str(value))
            assert both.ok("get", "ha/cli", "n", "--bare").stdout == f"{value}\n"


def test_watch_follows_the_replicas_without_gap_or_duplicate(tmp_path: Path) -> None:
    with ReplicaSet(tmp_path / "data", 2, "--watch-progress-interval", "0.2") as replicas:
        first, second = replicas.servers
        ns = "ha/watched"
        Configctl(first.grpc_addr).ok("ns", "create", ns)
        watcher = Watcher(Configctl(",".join([dead_addr(), *replicas.addrs])), ns, "-o", "json")
        try:
            assert watcher.read_line("stderr").startswith(f"watching {ns} at revision ")
            written: list[int] = []
            seen: list[int] = []
            # Whichever replica it watches, it loses it once and ends on the restarted one.
            for down, up in ((first, second), (second, first)):
                down.kill()
                for value in range(3):
                    run = Configctl(up.grpc_addr).ok("put", ns, "n", str(value), "-o", "json")
                    written.append(int(json.loads(run.stdout)["revision"]))
                seen += [json.loads(watcher.read_line())["revision"] for _ in range(3)]
                down.start()
            assert seen == written
            assert watcher.interrupt() == 0
        finally:
            watcher.close()


def test_a_malformed_address_list_names_the_flag() -> None:
    run = Configctl("h1:7700,,h2:7700")("ns", "list")
    assert run.code == 2
    assert run.errors[-1] == (
        "Error: Invalid value for '--addr' (CONFIGD_ADDR): addr 'h1:7700,,h2:7700' has an empty "
        "entry; separate replicas with single commas, e.g. h1:7700,h2:7700"
    )
