"""`configctl release ...` and `configctl clients` against a real configd, with real SDK
clients (ConfigClient with labels) watching."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Configctl

from configd_client import ConfigClient, Snapshot

_NAMES = itertools.count()


@pytest.fixture
def ns() -> str:
    return f"cli-release/app-{next(_NAMES)}"


@pytest.fixture
def watched(
    configctl: Configctl, shared_server: Any, ns: str
) -> Iterator[tuple[ConfigClient, ...]]:
    NS = ns
    configctl.ok("ns", "create", NS)
    configctl.ok("put", NS, "pool", "10")
    eu = ConfigClient(NS, addr=shared_server.grpc_addr, client_id="cli-eu", labels={"zone": "eu"})
    us = ConfigClient(NS, addr=shared_server.grpc_addr, client_id="cli-us", labels={"zone": "us"})
    with eu, us:
        yield eu, us
    configctl("release", "abort", NS)


def until(test: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def status(configctl: Configctl, ns: str) -> dict[str, Any]:
    return dict(json.loads(configctl.ok("release", "status", ns, "-o", "json").stdout))


def test_release_start_status_force_and_promote(
    configctl: Configctl, watched: tuple[ConfigClient, ...], tmp_path: Path, ns: str
) -> None:
    NS = ns
    eu, us = watched

    def listed() -> dict[str, Any]:
        rows = json.loads(configctl.ok("clients", NS, "-o", "json").stdout)
        return {c["client_id"]: c["labels"] for c in rows}

    # A replica records a client's watch in the store a flush after the stream opens.
    until(lambda: len(listed()) == 2)
    assert listed() == {"cli-eu": {"zone": "eu"}, "cli-us": {"zone": "us"}}
    new = tmp_path / "new.yaml"
    new.write_text("pool: 50\n")
    started = configctl.ok(
        "release", "start", NS, "-f", str(new), "--select", "zone=eu", "-m", "bigger pool"
    )
    assert "started release" in started.stdout
    until(lambda: eu.get("pool") == 50)
    until(lambda: status(configctl, NS)["applied"] == 1)
    data = status(configctl, NS)
    assert (data["state"], data["targeted"], data["pending"]) == ("running", 1, 0)
    assert [c["client_id"] for c in data["clients"]] == ["cli-eu"]
    assert us.get("pool") == 10
    table = configctl.ok("release", "status", NS).stdout
    assert "zone=eu: 1 applied, 0 rejected, 0 pending" in table

    refused = configctl("put", NS, "pool", "3")
    assert refused.code == 6
    assert f"release {data['release']['id']}" in refused.stderr
    assert "configctl release promote|abort" in refused.stderr
    assert "--force" in refused.stderr
    forced = configctl.ok("put", NS, "pool", "3", "--force", "-m", "hotfix")
    assert "put" in forced.stdout
    until(lambda: eu.get("pool") == 3 and us.get("pool") == 3)
    assert status(configctl, NS)["state"] == "aborted"

    configctl.ok("release", "start", NS, "-f", str(new), "--select", "zone=eu")
    until(lambda: eu.get("pool") == 50)
    configctl.ok("release", "promote", NS, "-m", "ship")
    until(lambda: us.get("pool") == 50)
    history = json.loads(configctl.ok("history", NS, "-o", "json").stdout)
    kinds = [entry["kind"] for entry in history["entries"][:2]]
    assert kinds == ["release-promote", "release-start"]


def test_a_vetoed_release_aborts_itself_and_watch_exits_10(
    configctl: Configctl, watched: tuple[ConfigClient, ...], tmp_path: Path, ns: str
) -> None:
    NS = ns
    eu, _ = watched

    def at_most_20(snapshot: Snapshot) -> bool:
        return int(snapshot.get("pool", 0)) <= 20

    eu.add_check(at_most_20)
    new = tmp_path / "new.json"
    new.write_text('{"pool": 50}')
    configctl.ok(
        "release", "start", NS, "-f", str(new), "--select", "zone=eu", "--max-failures", "0"
    )
    watching = configctl("release", "status", NS, "--watch", "--interval", "0.2")
    assert watching.code == 10, watching
    data = status(configctl, NS)
    assert data["state"] == "aborted"
    [client] = data["clients"]
    assert client["outcome"] == "rejected"
    assert "at_most_20 returned False" in client["reason"]
    assert eu.get("pool") == 10
    listed = json.loads(configctl.ok("clients", NS, "-o", "json").stdout)
    [mine] = [c for c in listed if c["client_id"] == "cli-eu"]
    assert mine["applied"][0]["rejected_revision"] == data["release"]["id"]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--select", "zone"), "--select"),
        (("--select", "Zone=eu"), "--select"),
        (("--percent", "0"), "--percent"),
        (("--percent", "101"), "--percent"),
        (("--bake", "soon"), "--bake"),
        (("--max-failures", "-1"), "--max-failures"),
    ],
)
def test_bad_release_flags_are_refused_before_any_call(
    configctl: Configctl, tmp_path: Path, flags: tuple[str, ...], named: str
) -> None:
    new = tmp_path / "new.json"
    new.write_text('{"pool": 50}')
    run = configctl("release", "start", "no/such-ns", "-f", str(new), *flags)
    assert run.code == 2, run
    assert named in run.stderr


def test_ending_without_a_release_says_so(configctl: Configctl) -> None:
    configctl.ok("ns", "create", "cli-release/idle")
    run = configctl("release", "promote", "cli-release/idle")
    assert run.code == 6
    assert "has no running" in run.stderr
    assert "configctl release status" in run.stderr
