"""Watch streams against real configd processes (docs/architecture.md, "The watch contract").

Every test talks to a `configd serve` subprocess over real gRPC streams. The randomized test
draws its schedule from a seed that is printed (and shown on failure); set CONFIGD_TEST_SEED to
replay one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import grpc.aio
import pytest

from configd.testing import ConfigdProcess
from configd_client.errors import InvalidArgument
from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc
from configd_client.wire.status import from_rpc_error

# grpc ships no type information.
Stub = Any
Call = Any

KIND = pb.WriteKind.Name
PROGRESS_INTERVAL = 0.3  # --watch-progress-interval of the servers started here


# -- servers ------------------------------------------------------------------------------------


ServerFactory = Callable[..., ConfigdProcess]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Starts servers with extra `configd serve` flags; stops them after the test."""
    started: list[ConfigdProcess] = []

    def start(*args: str) -> ConfigdProcess:
        server = ConfigdProcess(tmp_path / f"data{len(started)}", *args)
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def watch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigdProcess]:
    """One server for the small tests of this module, with a short progress interval."""
    server = ConfigdProcess(
        tmp_path_factory.mktemp("watch") / "data",
        "--watch-progress-interval",
        str(PROGRESS_INTERVAL),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def connect(
    server: ConfigdProcess, options: Iterable[tuple[str, Any]] = ()
) -> AsyncIterator[tuple[Stub, Stub]]:
    """(ConfigService stub, AdminService stub) on a new channel, closed on exit."""
    async with grpc.aio.insecure_channel(server.grpc_addr, options=list(options)) as channel:
        yield pb_grpc.ConfigServiceStub(channel), admin_pb2_grpc.AdminServiceStub(channel)


@pytest.fixture
async def stubs(watch_server: ConfigdProcess) -> AsyncIterator[tuple[Stub, Stub]]:
    async with connect(watch_server) as pair:
        yield pair


_names = 0


def unique(prefix: str) -> str:
    global _names
    _names += 1
    return f"{prefix}{_names}"


# -- reading streams ----------------------------------------------------------------------------


async def next_message(call: Call, within: float = 20.0) -> pb.WatchResponse:
    message = await asyncio.wait_for(call.read(), within)
    assert message is not grpc.aio.EOF, "the watch stream ended"
    assert isinstance(message, pb.WatchResponse)
    return message


async def next_change(call: Call, within: float = 20.0) -> pb.ChangeSet:
    """The next change set, skipping progress messages."""
    deadline = time.monotonic() + within
    while True:
        message = await next_message(call, max(0.01, deadline - time.monotonic()))
        kind = message.WhichOneof("event")
        if kind == "change_set":
            return message.change_set
        assert kind == "progress", f"expected a change set, got {message}"


async def next_progress(call: Call, within: float = 20.0) -> pb.Progress:
    message = await next_message(call, within)
    assert message.WhichOneof("event") == "progress", f"expected progress, got {message}"
    return message.progress


async def drain(call: Call) -> None:
    """Read until the stream ends (raises if it ends with an error status)."""
    while await call.read() is not grpc.aio.EOF:
        pass


async def metric(server: ConfigdProcess, name: str) -> float:
    """One unlabelled sample from the server's /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.http_url}/metrics") as reply,
    ):
        text = await reply.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


async def watcher_count(admin: Stub) -> int:
    status = await admin.GetStatus(admin_pb2.GetStatusRequest())
    return int(status.watcher_count)


async def wait_watchers(admin: Stub, expected: int, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while (count := await watcher_count(admin)) != expected:
        assert time.monotonic() < deadline, f"watcher_count is {count}, expected {expected}"
        await asyncio.sleep(0.05)


async def put(stub: Stub, namespace: str, key: str, value: Any) -> int:
    response = await stub.Put(
        pb.PutRequest(namespace=namespace, key=key, value_json=json.dumps(value))
    )
    return int(response.revision)


async def create(stub: Stub, namespace: str, schema: dict[str, Any] | None = None) -> int:
    response = await stub.CreateNamespace(
        pb.CreateNamespaceRequest(
            name=namespace, schema_json=json.dumps(schema) if schema is not None else ""
        )
    )
    return int(response.revision)


async def current_revision(admin: Stub) -> int:
    status = await admin.GetStatus(admin_pb2.GetStatusRequest())
    return int(status.revision)


def watch_request(
    names: Iterable[str] = (),
    prefixes: Iterable[str] = (),
    start_revision: int = 0,
    send_snapshot: bool = False,
) -> pb.WatchRequest:
    return pb.WatchRequest(
        namespaces=list(names),
        prefixes=list(prefixes),
        start_revision=start_revision,
        send_snapshot=send_snapshot,
    )


# -- rebuilding documents from a stream ---------------------------------------------------------


@dataclass
class Replica:
    """The documents a watcher rebuilds from what it received, checking each change set
    against the state it applies to (old values must match, kinds must make sense)."""

    names: frozenset[str]
    prefixes: tuple[str, ...]
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    schema_versions: dict[str, int] = field(default_factory=dict)
    revision: int = 0  # the revision the documents are at
    progressed: int = 0  # the highest progress revision received: all up to it delivered
    revisions: list[int] = field(default_factory=list)  # change sets applied, in order

    def matches(self, name: str) -> bool:
        return name in self.names or any(name.startswith(p) for p in self.prefixes)

    def apply(self, message: pb.WatchResponse) -> None:
        kind = message.WhichOneof("event")
        if kind == "snapshot":
            self.apply_snapshot(message.snapshot)
        elif kind == "change_set":
            self.apply_change_set(message.change_set)
        else:
            assert message.progress.revision >= self.revision or not self.revisions
            self.progressed = max(self.progressed, message.progress.revision)

    def apply_snapshot(self, snapshot: pb.Snapshot) -> None:
        assert snapshot.revision >= self.revision
        self.documents = {}
        self.schema_versions = {}
        for document in snapshot.namespaces:
            name = document.namespace.name
            assert self.matches(name), f"snapshot carries unwatched namespace {name}"
            self.documents[name] = json.loads(document.document_json)
            self.schema_versions[name] = document.namespace.schema_version
            assert [k.key for k in document.keys] == sorted(self.documents[name])
        self.revision = snapshot.revision

    def apply_change_set(self, cs: pb.ChangeSet) -> None:
        where = f"revision {cs.revision} ({KIND(cs.kind)} {cs.namespace})"
        assert self.matches(cs.namespace), f"{where}: namespace not watched"
        assert cs.revision > self.revision, f"{where} after revision {self.revision}"
        assert cs.revision > self.progressed, f"{where} after progress at {self.progressed}"
        self.revision = cs.revision
        self.revisions.append(cs.revision)
        kind = KIND(cs.kind)
        if kind == "WRITE_KIND_CREATE_NAMESPACE":
            assert cs.namespace not in self.documents, f"{where}: namespace exists"
            assert cs.HasField("schema_json"), f"{where}: no schema"
            self.documents[cs.namespace] = {}
        assert cs.namespace in self.documents, f"{where}: namespace unknown to the watcher"
        document = self.documents[cs.namespace]
        for change in cs.changes:
            if change.HasField("old_value_json"):
                assert change.key in document, f"{where}: {change.key} was absent"
                assert document[change.key] == json.loads(change.old_value_json), where
            else:
                assert change.key not in document, f"{where}: {change.key} was present"
            if change.HasField("new_value_json"):
                document[change.key] = json.loads(change.new_value_json)
            else:
                del document[change.key]
        if kind == "WRITE_KIND_SET_SCHEMA":
            assert cs.HasField("schema_json"), f"{where}: no schema"
            assert cs.schema_version == self.schema_versions[cs.namespace] + 1, where
        self.schema_versions[cs.namespace] = cs.schema_version
        if kind == "WRITE_KIND_DELETE_NAMESPACE":
            assert not document, f"{where}: keys left after a delete"
            del self.documents[cs.namespace]
            del self.schema_versions[cs.namespace]

    async def seed(self, stub: Stub, candidates: Iterable[str], revision: int) -> None:
        """Start from the server's documents at `revision` (for a watch that starts after it)."""
        for name in candidates:
            if self.matches(name):
                response = await _namespace_at(stub, name, revision)
                if response is not None:
                    self.documents[name] = json.loads(response.document_json)
                    self.schema_versions[name] = response.namespace.schema_version
        self.revision = revision

    async def check(self, stub: Stub, candidates: Iterable[str], where: str) -> None:
        """The rebuilt documents equal GetNamespace at the replica's revision."""
        for name in candidates:
            if not self.matches(name):
                continue
            response = await _namespace_at(stub, name, self.revision)
            if response is None:
                assert name not in self.documents, f"{where}: {name} should not exist"
                continue
            assert name in self.documents, f"{where}: {name} missing at {self.revision}"
            assert self.documents[name] == json.loads(response.document_json), (
                f"{where}: {name} differs at revision {self.revision}"
            )
            assert self.schema_versions[name] == response.namespace.schema_version, where


async def _namespace_at(stub: Stub, name: str, revision: int) -> pb.GetNamespaceResponse | None:
    try:
        response = await stub.GetNamespace(pb.GetNamespaceRequest(name=name, revision=revision))
    except grpc.aio.AioRpcError as exc:
        if exc.code() is grpc.StatusCode.NOT_FOUND:
            return None
        raise
    assert isinstance(response, pb.GetNamespaceResponse)
    return response


# -- the randomized test ------------------------------------------------------------------------

NAMESPACES = ("rw/a", "rw/b", "rw/c", "other/x")  # rw/c is deleted and re-created
KEYS = tuple(f"k{i}" for i in range(8))
# (No schema whose violation message quotes the document: a long value there makes the error's
# metadata exceed gRPC's 16 KiB limit, a server bug reported separately.)
SCHEMAS = ({"type": "object"}, {"type": "object", "propertyNames": {"pattern": "^k[0-5]$"}})
TOLERATED = {  # a random write may be refused; a refused write commits nothing
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
}


def random_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.3:
        return "x" * rng.randint(2_000, 6_000)  # fills the slow watcher's flow-control window
    if roll < 0.5:
        return rng.randint(-(2**70), 2**70)  # beyond float precision
    if roll < 0.7:
        return {"n": rng.randint(0, 9), "list": [rng.random() < 0.5, None, "s"]}
    return f"v{rng.randint(0, 1_000_000)}"


@dataclass
class Truth:
    """Every committed revision of the randomized run, from the write responses."""

    namespace_of: dict[int, str] = field(default_factory=dict)
    latest: int = 0

    def record(self, revision: int, namespace: str) -> None:
        if revision:  # 0: the write changed nothing (an Apply of the same document)
            assert revision not in self.namespace_of, f"revision {revision} acknowledged twice"
            self.namespace_of[revision] = namespace
            self.latest = max(self.latest, revision)


async def random_writer(
    server: ConfigdProcess, rng: random.Random, truth: Truth, operations: int
) -> None:
    async with connect(server) as (stub, _):
        for _ in range(operations):
            namespace = rng.choice(NAMESPACES)
            roll = rng.random()
            try:
                if roll < 0.6:
                    request = pb.PutRequest(
                        namespace=namespace,
                        key=rng.choice(KEYS),
                        value_json=json.dumps(random_value(rng)),
                    )
                    truth.record((await stub.Put(request)).revision, namespace)
                elif roll < 0.72:
                    delete = pb.DeleteRequest(namespace=namespace, key=rng.choice(KEYS))
                    truth.record((await stub.Delete(delete)).revision, namespace)
                elif roll < 0.87:
                    ops = [
                        pb.TxnOp(put=pb.TxnPut(key=key, value_json=json.dumps(random_value(rng))))
                        for key in rng.sample(KEYS, rng.randint(1, 4))
                    ]
                    txn = pb.TxnRequest(namespace=namespace, ops=ops)
                    truth.record((await stub.Txn(txn)).revision, namespace)
                elif roll < 0.95:
                    document = {k: random_value(rng) for k in rng.sample(KEYS, rng.randint(0, 5))}
                    apply = pb.ApplyRequest(namespace=namespace, document_json=json.dumps(document))
                    truth.record((await stub.Apply(apply)).revision, namespace)
                else:
                    schema = pb.SetSchemaRequest(
                        name=namespace, schema_json=json.dumps(rng.choice(SCHEMAS))
                    )
                    truth.record((await stub.SetSchema(schema)).revision, namespace)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in TOLERATED:
                    raise
            await asyncio.sleep(rng.random() * 0.01)  # random interleaving of the writers


async def namespace_churn(
    server: ConfigdProcess, rng: random.Random, truth: Truth, stop: asyncio.Event
) -> None:
    """Deletes (with force) and re-creates rw/c while the writers run."""
    async with connect(server) as (stub, _):
        while not stop.is_set():
            # Churn at random moments of the workload, not as a wait for anything.
            await asyncio.sleep(rng.uniform(0.1, 0.3))
            delete = pb.DeleteNamespaceRequest(name="rw/c", force=True, message="churn")
            truth.record((await stub.DeleteNamespace(delete)).revision, "rw/c")
            await asyncio.sleep(rng.uniform(0.05, 0.2))
            truth.record(await create(stub, "rw/c", rng.choice(SCHEMAS)), "rw/c")


@dataclass
class WatcherSpec:
    label: str
    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    start: str = "base"  # base | snapshot-late | revision-late | future
    resumes: bool = False
    slow: bool = False


@dataclass
class WatcherResult:
    spec: WatcherSpec
    replica: Replica
    origin: int  # the revision the replica started from (seed or first snapshot)
    sessions: int


async def run_watcher(
    server: ConfigdProcess,
    spec: WatcherSpec,
    rng: random.Random,
    base: int,
    truth: Truth,
    writers_done: asyncio.Event,
    final: list[int],
) -> WatcherResult:
    replica = Replica(frozenset(spec.names), spec.prefixes)
    # The slow watcher gets small HTTP/2 windows, so the server's sends block soon and its
    # buffer (--watch-buffer) overflows: it is moved to catch-up from history.
    options = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)]
    async with connect(server) as (checker, _):
        if spec.start in ("snapshot-late", "revision-late"):
            await asyncio.sleep(rng.uniform(0.2, 1.0))  # joins a workload already running
        if spec.start == "snapshot-late":
            request = watch_request(spec.names, spec.prefixes, 0, send_snapshot=True)
            origin = -1
        else:
            if spec.start == "base":
                start = base + 1
            elif spec.start == "future":
                start = base + 40
            else:
                start = max(base + 1, truth.latest + 1 - rng.randint(0, 40))
            if spec.start != "future":
                await replica.seed(checker, NAMESPACES, start - 1)
            origin = start - 1
            request = watch_request(spec.names, spec.prefixes, start)
        seen = max(origin, 0)
        sessions = 0
        while True:
            sessions += 1
            async with connect(server, options if spec.slow else ()) as (stub, _):
                call = stub.Watch(request)
                # Small enough that even the late, two-namespace watcher resumes several times.
                budget = rng.randint(2, 12) if spec.resumes else -1
                while not (final and seen >= final[0]):
                    message = await next_message(call)
                    if origin == -1:
                        assert message.WhichOneof("event") == "snapshot", spec.label
                        assert not message.snapshot.resync
                        origin = message.snapshot.revision
                    if spec.start == "future" and replica.revision < origin:
                        # Seeded once revision `origin` exists, which it does by now.
                        assert message.WhichOneof("event") != "change_set" or (
                            message.change_set.revision > origin
                        )
                        if message.WhichOneof("event") == "change_set":
                            await replica.seed(checker, NAMESPACES, origin)
                    replica.apply(message)
                    if message.WhichOneof("event") == "progress":
                        seen = max(seen, message.progress.revision)
                    seen = max(seen, replica.revision)
                    if spec.slow and not writers_done.is_set():
                        await asyncio.sleep(rng.uniform(0.02, 0.05))  # a slow reader
                    budget -= 1
                    if budget == 0:
                        break
                call.cancel()
            if final and seen >= final[0]:
                break
            # Disconnected at a random point: what we have must be the server's state at `seen`,
            # and resuming from seen + 1 must continue with no gap or duplicate.
            replica.revision = seen
            await replica.check(checker, NAMESPACES, f"{spec.label} at {seen}")
            await asyncio.sleep(rng.uniform(0, 0.15))  # reconnects after a random pause
            request = watch_request(spec.names, spec.prefixes, seen + 1)
        return WatcherResult(spec, replica, origin, sessions)


async def history_revisions(stub: Stub, namespace: str) -> set[int]:
    revisions: set[int] = set()
    token = ""
    while True:
        page = await stub.History(pb.HistoryRequest(namespace=namespace, page_token=token))
        revisions.update(entry.revision for entry in page.entries)
        token = page.next_page_token
        if not token:
            return revisions


async def test_randomized_writers_and_watchers_see_exactly_the_committed_sequence(
    server_factory: ServerFactory,
) -> None:
    seed = int(os.environ.get("CONFIGD_TEST_SEED", random.randrange(2**32)))
    print(f"randomized watch test: CONFIGD_TEST_SEED={seed}")
    rng = random.Random(seed)
    server = server_factory(
        "--watch-buffer", "8", "--watch-progress-interval", str(PROGRESS_INTERVAL)
    )
    async with connect(server) as (stub, admin):
        for name in NAMESPACES:
            await create(stub, name)
        base = await current_revision(admin)
    truth = Truth()
    specs = [
        WatcherSpec("all", prefixes=("",)),
        WatcherSpec("rw-prefix", prefixes=("rw/",)),
        WatcherSpec("names", names=("rw/a", "rw/c")),
        WatcherSpec("overlap", names=("rw/a", "other/x"), prefixes=("rw/",)),
        WatcherSpec("snapshot-late", prefixes=("rw/",), start="snapshot-late"),
        WatcherSpec("revision-late", names=("rw/b", "rw/c"), start="revision-late"),
        WatcherSpec("future", prefixes=("rw/", "other/"), start="future"),
        WatcherSpec("resume-1", prefixes=("rw/",), resumes=True),
        WatcherSpec("resume-2", names=("rw/c", "other/x"), start="revision-late", resumes=True),
        WatcherSpec("slow", prefixes=("",), slow=True),
    ]
    writers_done = asyncio.Event()
    final: list[int] = []
    try:
        async with asyncio.timeout(90), asyncio.TaskGroup() as tasks:
            watchers = [
                tasks.create_task(
                    run_watcher(
                        server, spec, random.Random(rng.random()), base, truth, writers_done, final
                    )
                )
                for spec in specs
            ]
            churn = tasks.create_task(
                namespace_churn(server, random.Random(rng.random()), truth, writers_done)
            )
            writers = [
                tasks.create_task(random_writer(server, random.Random(rng.random()), truth, 120))
                for _ in range(3)
            ]
            await asyncio.gather(*writers)
            writers_done.set()
            await churn
            async with connect(server) as (stub, admin):
                final.append(await current_revision(admin))
                # The acknowledged writes are all there is: no revision without an answer.
                assert sorted(truth.namespace_of) == list(range(base + 1, final[0] + 1))
                for name in NAMESPACES:
                    written = {r for r, n in truth.namespace_of.items() if n == name}
                    assert written == {r for r in await history_revisions(stub, name) if r > base}
                results = await asyncio.gather(*watchers)
                print(
                    f"revisions {base + 1}..{final[0]};",
                    ", ".join(
                        f"{r.spec.label}: {len(r.replica.revisions)} from {r.origin}"
                        f" in {r.sessions} session(s)"
                        for r in results
                    ),
                )
                for result in results:
                    spec, replica = result.spec, result.replica
                    expected = [
                        r
                        for r, name in sorted(truth.namespace_of.items())
                        if r > result.origin and replica.matches(name)
                    ]
                    assert replica.revisions == expected, f"{spec.label} (seed {seed})"
                    replica.revision = final[0]
                    await replica.check(stub, NAMESPACES, f"{spec.label} at the end (seed {seed})")
                    if spec.resumes:
                        # Resumed at least once (a late joiner may need only one resume
                        # before the writers finish; its budget is random).
                        assert result.sessions >= 2, spec.label
                await wait_watchers(admin, 0)
        # The slow watcher's buffer (8) overflowed: it was moved to catch-up at least once.
        assert await metric(server, "configd_watch_lagging_moves_total") >= 1
    except BaseException:
        print(f"randomized watch test failed: CONFIGD_TEST_SEED={seed}")
        raise


# -- resume around compaction and restarts ------------------------------------------------------


async def read_changes(call: Call, through: int) -> list[pb.ChangeSet]:
    """Change sets up to and including revision `through`."""
    changes: list[pb.ChangeSet] = []
    while not changes or changes[-1].revision < through:
        changes.append(await next_change(call))
    return changes


async def test_resume_below_the_compaction_revision_gets_a_resync_snapshot(
    server_factory: ServerFactory,
) -> None:
    server = server_factory("--watch-progress-interval", str(PROGRESS_INTERVAL))
    async with connect(server) as (stub, admin):
        base = await create(stub, "c/a")
        await create(stub, "c/gone")
        for i in range(3):
            await put(stub, "c/a", f"k{i}", i)
            await put(stub, "c/gone", "k", i)
        call = stub.Watch(watch_request(["c/a"], ["c/"], start_revision=base))
        seen = (await read_changes(call, base + 3))[-1].revision
        call.cancel()
        # Missed while away: more writes, a namespace deleted and one created, then compaction.
        await put(stub, "c/a", "k0", "changed")
        await stub.DeleteNamespace(pb.DeleteNamespaceRequest(name="c/gone", force=True))
        await create(stub, "c/new", {"type": "object"})
        await put(stub, "c/new", "x", [1, 2])
        last = await put(stub, "c/a", "k9", 9)
        compacted = await admin.Compact(admin_pb2.CompactRequest(revision=last))
        assert compacted.compact_revision == last
        view = await stub.GetNamespace(pb.GetNamespaceRequest(name="c/a"))
        assert view.compact_revision == last

        call = stub.Watch(watch_request(["c/a"], ["c/"], start_revision=seen + 1))
        message = await next_message(call)
        assert message.WhichOneof("event") == "snapshot"
        snapshot = message.snapshot
        assert snapshot.resync
        assert (snapshot.revision, snapshot.compact_revision) == (last, last)
        assert [d.namespace.name for d in snapshot.namespaces] == ["c/a", "c/new"]
        for document in snapshot.namespaces:
            current = await stub.GetNamespace(pb.GetNamespaceRequest(name=document.namespace.name))
            assert json.loads(document.document_json) == json.loads(current.document_json)
            assert document.namespace == current.namespace
            assert list(document.keys) == list(current.keys)
        # Then live, from the snapshot's revision on.
        live = await put(stub, "c/new", "y", True)
        assert (await next_change(call)).revision == live
        call.cancel()

        # At the compaction revision itself history is still complete: a replay, no resync.
        call = stub.Watch(watch_request(["c/a"], start_revision=last))
        change = await next_change(call)
        assert (change.revision, change.changes[0].key) == (last, "k9")
        call.cancel()
        await wait_watchers(admin, 0)


async def test_background_retention_compacts_and_the_stream_reports_it(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(
        "--history-keep-revisions",
        "5",
        "--history-keep-days",
        "0",
        "--compaction-interval",
        "0.2",
        "--watch-progress-interval",
        str(PROGRESS_INTERVAL),
    )
    async with connect(server) as (stub, admin):
        await create(stub, "r/a")
        for i in range(20):
            last = await put(stub, "r/a", "k", i)
        deadline = time.monotonic() + 10
        while (await admin.GetStatus(admin_pb2.GetStatusRequest())).compact_revision < last - 4:
            assert time.monotonic() < deadline, "retention did not compact"
            await asyncio.sleep(0.05)
        view = await stub.GetNamespace(pb.GetNamespaceRequest(name="r/a"))
        assert view.compact_revision == last - 4
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetNamespace(pb.GetNamespaceRequest(name="r/a", revision=last - 5))
        assert raised.value.code() is grpc.StatusCode.OUT_OF_RANGE

        call = stub.Watch(watch_request(["r/a"], start_revision=1))
        snapshot = (await next_message(call)).snapshot
        assert (snapshot.resync, snapshot.revision, snapshot.compact_revision) == (
            True,
            last,
            last - 4,
        )
        assert json.loads(snapshot.namespaces[0].document_json) == {"k": 19}
        progress = await next_progress(call)
        assert (progress.revision, progress.compact_revision) == (last, last - 4)
        call.cancel()

        call = stub.Watch(watch_request(["r/a"], start_revision=last - 2))
        changes = await read_changes(call, last)
        assert [c.revision for c in changes] == [last - 2, last - 1, last]
        assert [json.loads(c.changes[0].new_value_json) for c in changes] == [17, 18, 19]
        call.cancel()


async def test_server_restart_then_resume_from_the_last_revision_loses_nothing(
    server_factory: ServerFactory,
) -> None:
    server = server_factory("--watch-progress-interval", str(PROGRESS_INTERVAL))
    async with connect(server) as (stub, _):
        base = await create(stub, "s/a")
        written = [await put(stub, "s/a", "k", i) for i in range(3)]
        call = stub.Watch(watch_request(["s/a"], start_revision=base + 1))
        received = [c.revision for c in await read_changes(call, written[-1])]
        assert received == written
        # A graceful stop ends live streams with UNAVAILABLE: clients resume elsewhere.
        server.stop()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await drain(call)
        assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    server.start()
    async with connect(server) as (stub, _):
        written += [await put(stub, "s/a", "k", i) for i in range(3, 6)]
        call = stub.Watch(watch_request(["s/a"], start_revision=received[-1] + 1))
        received += [c.revision for c in await read_changes(call, written[-1])]
        assert received == written
        call.cancel()
        # Acknowledged while the watcher was away, then a crash: nothing may be missing.
        written += [await put(stub, "s/a", "k", i) for i in range(6, 9)]
    server.kill()
    server.start()
    async with connect(server) as (stub, _):
        written += [await put(stub, "s/a", "k", i) for i in range(9, 11)]
        call = stub.Watch(watch_request(["s/a"], start_revision=received[-1] + 1))
        changes = await read_changes(call, written[-1])
        received += [c.revision for c in changes]
        assert received == written
        assert [json.loads(c.changes[0].new_value_json) for c in changes] == list(range(6, 11))
        written.append(await put(stub, "s/a", "k", "live"))
        assert (await next_change(call)).revision == written[-1]
        call.cancel()


# -- selection, events, progress, lifecycle ------------------------------------------------------


async def test_snapshot_first_then_changes(stubs: tuple[Stub, Stub]) -> None:
    stub, _ = stubs
    name = unique("snap/n")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    await create(stub, name, schema)
    await put(stub, name, "n", 2**64 + 1)
    await put(stub, name, "s", "x")
    call = stub.Watch(watch_request([name], send_snapshot=True))
    snapshot = (await next_message(call)).snapshot
    current = await stub.GetNamespace(pb.GetNamespaceRequest(name=name))
    assert not snapshot.resync
    assert snapshot.revision == current.current_revision
    (document,) = snapshot.namespaces
    assert document.document_json == current.document_json == '{"n":18446744073709551617,"s":"x"}'
    assert json.loads(document.schema_json) == schema
    assert document.namespace == current.namespace
    assert list(document.keys) == list(current.keys)
    revision = await put(stub, name, "n", 3)
    change = await next_change(call)
    assert (change.revision, KIND(change.kind)) == (revision, "WRITE_KIND_PUT")
    call.cancel()


async def test_prefix_watch_sees_a_namespace_created_after_it_started(
    stubs: tuple[Stub, Stub],
) -> None:
    stub, _ = stubs
    prefix = unique("pfx/p") + "/"
    name = prefix + "later"
    call = stub.Watch(watch_request(prefixes=[prefix]))
    await next_progress(call)  # the watch is registered: everything after this is owed
    created = await create(stub, name, {"type": "object"})
    await create(stub, unique("pfx/elsewhere"))  # not selected
    put_revision = await put(stub, name, "a", 1)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    schema_response = await stub.SetSchema(
        pb.SetSchemaRequest(name=name, schema_json=json.dumps(schema), message="tighten")
    )
    deleted = await stub.DeleteNamespace(pb.DeleteNamespaceRequest(name=name, force=True))
    events = [await next_change(call) for _ in range(4)]
    assert [(e.revision, KIND(e.kind), e.namespace) for e in events] == [
        (created, "WRITE_KIND_CREATE_NAMESPACE", name),
        (put_revision, "WRITE_KIND_PUT", name),
        (schema_response.revision, "WRITE_KIND_SET_SCHEMA", name),
        (deleted.revision, "WRITE_KIND_DELETE_NAMESPACE", name),
    ]
    create_event, _, schema_event, delete_event = events
    assert json.loads(create_event.schema_json) == {"type": "object"}
    assert create_event.schema_version == 1
    assert (json.loads(schema_event.schema_json), schema_event.schema_version) == (schema, 2)
    assert schema_event.message == "tighten"
    assert not schema_event.changes
    assert [
        (c.key, c.old_value_json, c.HasField("new_value_json")) for c in delete_event.changes
    ] == [("a", "1", False)]
    assert create_event.author
    assert create_event.time.seconds > 0
    call.cancel()


async def test_progress_arrives_when_idle(stubs: tuple[Stub, Stub]) -> None:
    stub, admin = stubs
    name = unique("prog/n")
    await create(stub, name)
    call = stub.Watch(watch_request([name]))
    started = time.monotonic()
    first = await next_progress(call, within=5)
    assert first.revision == await current_revision(admin)
    # Writes elsewhere do not count as activity for this watch, but do move its revision.
    other = unique("prog/other")
    elsewhere = await create(stub, other)
    second = await next_progress(call, within=5)
    assert second.revision >= elsewhere
    third = await next_progress(call, within=5)
    elapsed = time.monotonic() - started
    assert elapsed >= 2 * PROGRESS_INTERVAL * 0.8, elapsed
    assert third.revision >= second.revision
    call.cancel()


async def test_progress_never_overtakes_a_change_it_covers(server_factory: ServerFactory) -> None:
    """Progress at revision R promises every change up to R was delivered. Writes paced at the
    progress interval make a publish land as a wait times out, which once sent a progress
    ahead of the change set still in the buffer."""
    server = server_factory("--watch-progress-interval", "0.05", "--synchronous", "normal")
    async with connect(server) as (stub, _):
        name = "race/n"
        await create(stub, name)
        calls = [stub.Watch(watch_request([name])) for _ in range(40)]
        violations: list[str] = []
        progress_seen = 0

        delivered = [0] * len(calls)  # each reader's latest change set

        async def follow(reader: int, call: Call) -> None:
            nonlocal progress_seen
            progressed = 0
            while (message := await call.read()) is not grpc.aio.EOF:
                if message.WhichOneof("event") == "progress":
                    progressed = max(progressed, message.progress.revision)
                    progress_seen += 1
                else:
                    if message.change_set.revision <= progressed:
                        violations.append(f"{message.change_set.revision} after {progressed}")
                    delivered[reader] = message.change_set.revision

        readers = [asyncio.create_task(follow(i, call)) for i, call in enumerate(calls)]
        rng = random.Random(0)
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            last = await put(stub, name, "k", rng.random())
            # The behaviour under test: writes paced at the progress interval (see above).
            await asyncio.sleep(rng.uniform(0.045, 0.06))
        deadline = time.monotonic() + 20
        while min(delivered) < last:
            assert time.monotonic() < deadline, f"change sets up to {last} not delivered to all"
            await asyncio.sleep(0.02)
        for call in calls:
            call.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    assert progress_seen > 100
    assert not violations


async def test_future_start_revision_waits_for_it(stubs: tuple[Stub, Stub]) -> None:
    """A start revision ahead of the server (resumed after a replica that is ahead): the
    stream sends nothing, not even progress, until the server has applied start - 1 (bounded
    by --min-revision-wait; see tests/configd/api/test_min_revision.py), then goes live."""
    stub, admin = stubs
    name = unique("future/n")
    await create(stub, name)
    start = await current_revision(admin) + 3
    call = stub.Watch(watch_request([name], start_revision=start))
    assert await put(stub, name, "k", 1) == start - 2
    assert await put(stub, name, "k", 2) == start - 1
    # Nothing below start_revision is delivered, and progress never reports below start - 1.
    assert (await next_progress(call)).revision == start - 1
    assert await put(stub, name, "k", 3) == start
    change = await next_change(call)
    assert (change.revision, change.changes[0].new_value_json) == (start, "3")
    call.cancel()


async def test_cancelled_and_disconnected_watchers_are_released(
    watch_server: ConfigdProcess, stubs: tuple[Stub, Stub]
) -> None:
    stub, admin = stubs
    await wait_watchers(admin, 0)
    name = unique("rel/n")
    await create(stub, name)
    small_window = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)]
    async with contextlib.AsyncExitStack() as stack:
        first, _ = await stack.enter_async_context(connect(watch_server))
        second, _ = await stack.enter_async_context(connect(watch_server))
        stalled, _ = await stack.enter_async_context(connect(watch_server, small_window))
        cancelled = [first.Watch(watch_request([name])) for _ in range(5)]
        dropped = [second.Watch(watch_request(prefixes=["rel/"])) for _ in range(5)]
        never_read = stalled.Watch(watch_request([name]))
        await wait_watchers(admin, 11)
        # The unread stream's sends block once its flow-control window is full.
        for i in range(20):
            await put(stub, name, f"big{i}", "x" * 20_000)
        for call in cancelled:
            call.cancel()
        await wait_watchers(admin, 6)
        assert not never_read.done()
    # Leaving the stack closed the other two connections, one of them stalled mid-send.
    await wait_watchers(admin, 0)
    assert all(call.cancelled() for call in cancelled)
    assert all(call.done() for call in [*dropped, never_read])


def _bad_request_cases() -> list[Any]:
    return [
        pytest.param(
            watch_request(["ok"], start_revision=-1),
            "start_revision",
            "configd: start_revision is negative; use 0 for now or last_seen + 1 to resume",
            id="negative-start",
        ),
        pytest.param(
            watch_request(["ok"], start_revision=5, send_snapshot=True),
            "send_snapshot",
            "configd: send_snapshot needs start_revision 0",
            id="snapshot-with-start",
        ),
        pytest.param(
            watch_request(),
            "namespaces",
            'configd: select at least one namespace or prefix to watch (prefix "" watches all)',
            id="no-selection",
        ),
        pytest.param(
            watch_request(["Payments/Prod"]),
            "namespaces",
            "configd: namespaces 'Payments/Prod' is not a valid namespace name",
            id="uppercase-name",
        ),
        pytest.param(
            watch_request(["a//b"]),
            "namespaces",
            "is not a valid namespace name",
            id="empty-segment",
        ),
        pytest.param(
            watch_request(["a/../b"]), "namespaces", "is not a valid namespace name", id="dot-dot"
        ),
        pytest.param(watch_request([""]), "namespaces", "namespaces is empty", id="empty-name"),
        pytest.param(
            watch_request(prefixes=["Bad prefix"]),
            "prefixes",
            "configd: prefixes 'Bad prefix' cannot start a namespace name",
            id="bad-prefix",
        ),
    ]


@pytest.mark.parametrize(("request_", "field_name", "message"), _bad_request_cases())
async def test_bad_watch_requests_are_invalid_argument(
    stubs: tuple[Stub, Stub], request_: pb.WatchRequest, field_name: str, message: str
) -> None:
    stub, admin = stubs
    call = stub.Watch(request_)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    error = from_rpc_error(raised.value)
    assert isinstance(error, InvalidArgument)
    assert message in str(error)
    assert [v.path for v in error.violations] == [field_name]
    await wait_watchers(admin, 0)
