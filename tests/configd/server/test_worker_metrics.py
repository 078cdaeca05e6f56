"""/metrics of the whole server under `configd serve --workers N` (issue 16, point 5).

A scrape lands on any one worker (SO_REUSEPORT); it must show every live worker's series,
each labelled worker="<slot>". Other workers' series are up to a second old, so every
expectation about them is polled with a deadline. (`--workers 1` keeps its unlabelled page:
tests/configd/server/test_metrics.py.)
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from configd import __version__
from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from tests.configd.server.worker_probes import configz, until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

LIST = "ConfigService/ListNamespaces"
REQUESTS = "configd_grpc_requests_total"


def scrape(server: ConfigdProcess) -> Samples:
    """One /metrics page over a fresh connection (any worker), checked to be well formed:
    one HELP and one TYPE per family, no series twice."""
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    for kind in ("# HELP ", "# TYPE "):
        names = Counter(line.split()[2] for line in text.splitlines() if line.startswith(kind))
        assert [name for name, n in names.items() if n > 1] == []
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"series twice: {key}"
            samples[key] = sample.value
    return samples


def by_worker(samples: Samples, name: str, **labels: str) -> dict[str, float]:
    """The samples of `name` with exactly `labels` besides `worker`, by worker."""
    found = {}
    for (sample, sample_labels), value in samples.items():
        rest = dict(sample_labels)
        worker = rest.pop("worker", None)
        if sample == name and rest == labels and worker is not None:
            found[worker] = value
    return found


def list_on_new_connections(server: ConfigdProcess, count: int) -> None:
    """`count` ListNamespaces calls, each on a connection of its own: the kernel picks a
    worker per connection."""
    for _ in range(count):
        options = [("grpc.use_local_subchannel_pool", 1)]
        with grpc.insecure_channel(server.grpc_addr, options=options) as channel:
            pb_grpc.ConfigServiceStub(channel).ListNamespaces(
                pb.ListNamespacesRequest(), timeout=10
            )


def slot_pids(server: ConfigdProcess) -> dict[int, int]:
    """The live workers' pids by slot."""
    return {int(w["slot"]): int(w["pid"]) for w in configz(server)["workers"]}


def eventually(scraped: Callable[[Samples], bool], server: ConfigdProcess, what: str) -> Samples:
    """Scrape until `scraped` holds for one page; that page."""
    pages: list[Samples] = []

    def check() -> bool:
        pages.append(scrape(server))
        return scraped(pages[-1])

    until(check, what)
    return pages[-1]


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """One server for the module (starting workers is slow): each test leaves both slots
    serving, and the first one runs before any other sends a gRPC call."""
    with ConfigdProcess(tmp_path_factory.mktemp("workers") / "data", workers=2) as server:
        until(lambda: set(slot_pids(server)) == {0, 1}, "both workers listed")
        yield server


def test_one_scrape_shows_the_requests_of_every_worker(workers: ConfigdProcess) -> None:
    sent = 0
    # Until both workers have answered some (each connection lands on either).
    while len(by_worker(scrape(workers), REQUESTS, method=LIST, code="OK")) < 2:
        assert sent < 400, "every connection landed on one worker"
        list_on_new_connections(workers, 10)
        sent += 10
        time.sleep(0.05)

    def all_counted(samples: Samples) -> bool:
        counts = by_worker(samples, REQUESTS, method=LIST, code="OK")
        assert sum(counts.values()) <= sent  # a series counted twice would exceed it
        return sum(counts.values()) == sent

    samples = eventually(all_counted, workers, "every request counted")
    counts = by_worker(samples, REQUESTS, method=LIST, code="OK")
    assert set(counts) == {"0", "1"}
    assert all(n > 0 for n in counts.values())
    assert set(by_worker(samples, "process_resident_memory_bytes")) == {"0", "1"}
    assert set(by_worker(samples, "configd_build_info", version=__version__)) == {"0", "1"}
    latency = "configd_grpc_request_duration_seconds_count"
    assert sum(by_worker(samples, latency, method=LIST, code="OK").values()) == sent


def test_gauges_are_per_worker(workers: ConfigdProcess) -> None:
    with grpc.insecure_channel(workers.grpc_addr) as channel:
        reply = pb_grpc.ConfigServiceStub(channel).CreateNamespace(
            pb.CreateNamespaceRequest(name="m"), timeout=10
        )
    samples = eventually(
        lambda s: by_worker(s, "configd_revision") == {"0": reply.revision, "1": reply.revision},
        workers,
        "both workers applied the write",
    )
    assert by_worker(samples, "configd_namespaces") == {"0": 1, "1": 1}
    # The maintenance election has one winner among the workers.
    eventually(
        lambda s: sorted(by_worker(s, "configd_maintainer").values()) == [0, 1],
        workers,
        "one maintainer",
    )


def test_a_killed_workers_series_give_way_to_its_replacement(workers: ConfigdProcess) -> None:
    started = "process_start_time_seconds"
    before = eventually(
        lambda s: set(by_worker(s, started)) == {"0", "1"}, workers, "both workers scraped"
    )
    victim = slot_pids(workers)[1]
    os.kill(victim, signal.SIGKILL)
    until(lambda: slot_pids(workers).get(1, victim) != victim, "slot 1 replaced")

    # The replacement continues slot 1: its series are the new process's, never both.
    def replaced(samples: Samples) -> bool:
        starts = by_worker(samples, started)
        return set(starts) == {"0", "1"} and starts["1"] != by_worker(before, started)["1"]

    samples = eventually(replaced, workers, "slot 1 shows the replacement")
    assert by_worker(samples, started)["0"] == by_worker(before, started)["0"]
    run = workers.data_dir / "run"
    left = [run / f"metrics-{victim}.json", run / f"worker-{victim}.json"]

    def removed() -> bool:
        scrape(workers)  # a scrape (metrics) and configz (status) remove the files of the dead
        configz(workers)
        return not any(path.exists() for path in left)

    until(removed, "the killed worker's files removed")


def test_a_rolling_replacement_never_shows_a_slot_twice(workers: ConfigdProcess) -> None:
    old = slot_pids(workers)
    os.kill(workers.pid, signal.SIGUSR2)

    def rolled(samples: Samples) -> bool:
        # Each page is checked by scrape(): an old and a new worker of one slot, both
        # running during the hand-over, never both appear.
        assert set(by_worker(samples, "configd_revision")) <= {"0", "1"}
        pids = slot_pids(workers)
        return set(pids) == {0, 1} and not set(pids.values()) & set(old.values())

    eventually(rolled, workers, "both workers replaced")
    eventually(
        lambda s: set(by_worker(s, "configd_revision")) == {"0", "1"},
        workers,
        "both slots shown",
    )
