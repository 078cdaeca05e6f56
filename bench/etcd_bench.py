"""etcd's side of the side-by-side benchmark (bench/run.py): the same workloads over etcd's v3 gRPC.

    apt-get install etcd-server        # Debian/Ubuntu: /usr/bin/etcd

Not a script of its own: bench/run.py imports it. It provides
  * `stubs()`: Python stubs generated with grpcio-tools (a dev dependency) from
    bench/etcd_wire/etcd_wire.proto (our own declaration of the few etcd v3 messages used:
    service paths and field numbers from etcd's API reference), into a temporary directory,
    once per process. Not committed: they would be a second generated tree to keep in step
    with the pinned grpcio-tools; generating takes well under a second.
  * `EtcdProcess`: a single-member etcd on 127.0.0.1 (free ports), its own temporary data
    directory, default durability (every write is in the fsynced WAL before it is answered).
  * `kv_client` / `setup_kv`: the put/get load of bench/put_bench.py (same ~2 KB values, same
    2 processes x 32 calls in flight), with etcd Put and Range (linearizable, etcd's default).
  * `run_watch`: N watchers, each on its own connection and Watch stream, in client processes;
    delivery latency of --rounds writes and etcd's memory per watcher, measured like
    bench/watch_bench.py measures configd ("from call" and "from ack"; etcd events carry no
    commit time).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    WATCHER_CHANNEL_OPTIONS,
    closed_loop,
    cpu_seconds,
    raise_open_files,
    rss_kib,
    summarize,
)
from _watchers import ClientReport, NodeClients, PythonClients, WatcherProcess
from put_bench import value

PROTO_DIR = Path(__file__).resolve().parent / "etcd_wire"
KV_PREFIX = "bench/payments/"
WATCH_KEY = b"bench/watch/value"
WATCH_METHOD = "/etcdserverpb.Watch/Watch"
OPEN_BATCH = 250  # streams opened concurrently per client process

_stubs_dir: tempfile.TemporaryDirectory[str] | None = None


# -- stubs --------------------------------------------------------------------------------------


def stubs() -> tuple[ModuleType, ModuleType]:
    """(etcd_wire_pb2, etcd_wire_pb2_grpc), generated on first use into a temporary directory
    put on sys.path (spawned client processes inherit sys.path, so they import the same)."""
    global _stubs_dir
    if _stubs_dir is None:
        from grpc_tools import protoc

        tmp = tempfile.TemporaryDirectory(prefix="etcd-stubs-")
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{PROTO_DIR}",
                f"--python_out={tmp.name}",
                f"--grpc_python_out={tmp.name}",
                "etcd_wire.proto",
            ]
        )
        if code != 0:
            tmp.cleanup()
            raise RuntimeError(f"grpc_tools.protoc failed ({code}) on {PROTO_DIR}")
        _stubs_dir = tmp
        sys.path.insert(0, tmp.name)
    return _import_stubs()


def _import_stubs() -> tuple[ModuleType, ModuleType]:
    import etcd_wire_pb2  # type: ignore[import-not-found]
    import etcd_wire_pb2_grpc  # type: ignore[import-not-found]

    return etcd_wire_pb2, etcd_wire_pb2_grpc


# -- the server ---------------------------------------------------------------------------------


def etcd_binary() -> str | None:
    return os.environ.get("ETCD_BIN") or shutil.which("etcd")


def etcd_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].replace("etcd Version:", "").strip() if first else "unknown"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EtcdProcess:
    """A single-member etcd on 127.0.0.1 with a temporary data directory; a context manager.

    Defaults everywhere except addresses and logging, so durability is etcd's own (WAL fsync
    before a write is answered)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.grpc_addr = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.log_path = Path(os.devnull)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("etcd is not running")
        return self.process.pid

    def start(self, timeout: float = 30.0, attempts: int = 3) -> None:
        """Start and wait until etcd answers; retried on other ports if one was taken in
        between (free ports are picked by binding port 0, then released)."""
        for attempt in range(1, attempts + 1):
            try:
                self._start(timeout)
                return
            except RuntimeError:
                self.stop()
                if attempt == attempts:
                    raise

    def _start(self, timeout: float) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="etcd-bench-")
        data = Path(self._tmp.name) / "data"
        self.log_path = Path(self._tmp.name) / "etcd.log"
        client_url = f"http://127.0.0.1:{_free_port()}"
        peer_url = f"http://127.0.0.1:{_free_port()}"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--name",
                    "bench",
                    "--data-dir",
                    str(data),
                    "--listen-client-urls",
                    client_url,
                    "--advertise-client-urls",
                    client_url,
                    "--listen-peer-urls",
                    peer_url,
                    "--initial-advertise-peer-urls",
                    peer_url,
                    "--initial-cluster",
                    f"bench={peer_url}",
                    "--logger",
                    "zap",
                    "--log-level",
                    "warn",
                ],
                stdout=log,
                stderr=log,
            )
        self.grpc_addr = client_url.removeprefix("http://")
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import grpc

        pb, pb_grpc = stubs()
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.grpc_addr) as channel:
            kv = pb_grpc.KVStub(channel)
            while True:
                assert self.process is not None
                code = self.process.poll()
                if code is not None:
                    raise RuntimeError(f"etcd exited during start ({code}): {self.logs()[-3000:]}")
                try:
                    kv.Range(pb.RangeRequest(key=b"ready"), timeout=2)
                    return
                except grpc.RpcError as exc:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"etcd did not answer in {timeout}s: {exc}") from exc
                    time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is not None:
            process, self.process = self.process, None
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> EtcdProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- put / get ----------------------------------------------------------------------------------


def setup_kv(addr: str) -> None:
    """The 50 keys that the put/get load rewrites and reads (as put_bench.setup)."""
    import grpc

    pb, pb_grpc = stubs()
    with grpc.insecure_channel(addr) as channel:
        kv = pb_grpc.KVStub(channel)
        for i in range(50):
            kv.Put(pb.PutRequest(key=f"{KV_PREFIX}k{i}".encode(), value=value(i).encode()))


def kv_client(
    addr: str, kind: str, concurrency: int, per_worker: int, base: int, start_at: float, out: Any
) -> None:
    """One client process (put_bench.client's contract): `concurrency` calls in flight on one
    channel; puts `out` (latencies, elapsed seconds, own CPU seconds)."""
    import grpc

    pb, pb_grpc = _import_stubs()

    async def run() -> tuple[list[float], float, float]:
        async with grpc.aio.insecure_channel(addr) as channel:
            kv = pb_grpc.KVStub(channel)
            await kv.Range(pb.RangeRequest(key=f"{KV_PREFIX}k0".encode()))  # connect first

            def caller(key: bytes) -> Callable[[int], Awaitable[object]]:
                if kind == "put":
                    return lambda i: kv.Put(pb.PutRequest(key=key, value=value(i).encode()))
                request = pb.RangeRequest(key=key)
                return lambda i: kv.Range(request)

            callers = [
                caller(f"{KV_PREFIX}k{(base + i) % 50}".encode()) for i in range(concurrency)
            ]
            return await closed_loop(callers, per_worker, start_at)

    out.put(asyncio.run(run()))


# -- watch --------------------------------------------------------------------------------------


def watch_client_main(conn: Connection, addr: str, count: int, first: int) -> None:
    """Entry point of a watch client process: holds `count` watch streams until told to stop."""
    raise_open_files(count + 256)
    asyncio.run(_watch_client(conn, addr, count, first))


async def _watch_client(conn: Connection, addr: str, count: int, first: int) -> None:
    import grpc
    import grpc.aio

    pb, _ = _import_stubs()
    loop = asyncio.get_running_loop()
    create = pb.WatchRequest(create_request=pb.WatchCreateRequest(key=WATCH_KEY))
    request = create.SerializeToString()
    receipts: dict[int, array.array[int]] = {}
    last_seen = [0] * count
    ready = 0
    batch_end = 0
    batch_ready = asyncio.Event()
    all_ready = asyncio.Event()
    target = [0]
    complete = 0
    all_complete = asyncio.Event()
    errors: list[str] = []
    channels: list[Any] = []
    calls: list[Any] = []

    def settle() -> None:
        nonlocal ready
        ready += 1
        if ready >= batch_end:
            batch_ready.set()
        if ready == count:
            all_ready.set()

    async def watch(index: int) -> None:
        nonlocal complete
        channel = grpc.aio.insecure_channel(addr, options=WATCHER_CHANNEL_OPTIONS)
        channels.append(channel)
        call = channel.stream_stream(WATCH_METHOD)()  # raw bytes: receipt time before parsing
        calls.append(call)
        created = False
        try:
            await call.write(request)
            while True:
                raw = await call.read()
                received = time.time_ns()
                if raw is grpc.aio.EOF:
                    errors.append(f"watcher {first + index}: stream ended")
                    break
                message = pb.WatchResponse.FromString(raw)
                if message.created and not created:
                    created = True
                    settle()
                    continue
                if message.canceled:
                    errors.append(f"watcher {first + index}: canceled {message.cancel_reason}")
                    break
                for event in message.events:
                    revision = event.kv.mod_revision
                    bucket = receipts.get(revision)
                    if bucket is None:
                        bucket = receipts[revision] = array.array("q")
                    bucket.append(received)
                    last_seen[index] = revision
                    if target[0] and revision >= target[0]:
                        complete += 1
                        if complete == count:
                            all_complete.set()
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.CANCELLED:
                errors.append(f"watcher {first + index}: {exc.code().name} {exc.details()}")
        if not created:
            settle()

    tasks: list[asyncio.Task[None]] = []
    for batch_start in range(0, count, OPEN_BATCH):
        batch_end = min(count, batch_start + OPEN_BATCH)
        tasks.extend(asyncio.create_task(watch(i)) for i in range(batch_start, batch_end))
        if ready < batch_end:  # pace the connects: this batch is created before the next
            batch_ready.clear()
            await batch_ready.wait()
    await all_ready.wait()
    failed = sum(1 for e in errors if "stream ended" not in e)
    conn.send(("ready", 0.0, failed))

    command, last_revision, deadline = await loop.run_in_executor(None, conn.recv)
    assert command == "finish"
    target[0] = last_revision
    complete = sum(1 for seen in last_seen if seen >= last_revision)
    if complete < count:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_complete.wait(), max(0.1, deadline - time.monotonic()))
    conn.send(
        ClientReport(
            failed=failed,
            receipts={rev: times.tobytes() for rev, times in receipts.items()},
            complete=sum(1 for seen in last_seen if seen >= last_revision),
            errors=errors[:20],
        )
    )
    for call in calls:
        call.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    conn.recv()  # "exit": keep our CPU-time counters readable until the parent is done


def run_watch(
    binary: str, watchers: int, procs: int, rounds: int, interval: float, client: str = "python"
) -> dict[str, Any]:
    """A fresh etcd, `watchers` streams on one key, `rounds` writes `interval` seconds apart,
    watched by `client` processes (bench/_watchers.py). Returns the fields
    bench/watch_bench.py reports for configd (those that apply)."""
    import grpc

    pb, pb_grpc = stubs()
    raise_open_files(watchers + 4096)
    with EtcdProcess(binary) as server:
        channel = grpc.insecure_channel(server.grpc_addr)
        kv = pb_grpc.KVStub(channel)
        kv.Put(pb.PutRequest(key=WATCH_KEY, value=b'{"round": 0}'))
        time.sleep(0.5)
        rss_before = rss_kib(server.pid)
        create = pb.WatchRequest(create_request=pb.WatchCreateRequest(key=WATCH_KEY))
        clients: list[WatcherProcess] = []
        share, extra = divmod(watchers, procs)
        first = 0
        for p in range(procs):
            count = share + (1 if p < extra else 0)
            if not count:
                continue
            if client == "node":
                clients.append(NodeClients(server.grpc_addr, count, first, "etcd", create))
            else:
                clients.append(PythonClients(watch_client_main, server.grpc_addr, count, first))
            first += count
        try:
            open_started = time.monotonic()
            failed = sum(c.wait_ready(300) for c in clients)
            open_seconds = time.monotonic() - open_started
            time.sleep(1.0)  # let the server settle before reading its memory
            rss_after_open = rss_kib(server.pid)
            server_cpu0 = cpu_seconds(server.pid)
            client_cpu0 = sum(cpu_seconds(c.pid) for c in clients)
            wall0 = time.monotonic()
            writes: list[tuple[int, int, int]] = []  # revision, before the call, after the ack
            for round_ in range(1, rounds + 1):
                before = time.time_ns()
                response = kv.Put(
                    pb.PutRequest(key=WATCH_KEY, value=f'{{"round": {round_}}}'.encode())
                )
                acked = time.time_ns()
                writes.append((int(response.header.revision), before, acked))
                time.sleep(max(0.0, interval - (acked - before) / 1e9))
            last = writes[-1][0]
            deadline = time.monotonic() + max(10.0, interval * 5)
            for c in clients:
                c.finish(last, deadline)
            reports = [c.report(deadline - time.monotonic() + 60) for c in clients]
            wall = time.monotonic() - wall0
            server_cpu = cpu_seconds(server.pid) - server_cpu0
            client_cpu = sum(cpu_seconds(c.pid) for c in clients) - client_cpu0
        finally:
            for c in clients:
                c.close()
            channel.close()

    from_ack: list[float] = []
    from_call: list[float] = []
    delivered = 0
    for revision, before, acked in writes:
        times: array.array[int] = array.array("q")
        for report in reports:
            raw = report.receipts.get(revision)
            if raw:
                times.frombytes(raw)
        delivered += len(times)
        from_ack.extend((t - acked) / 1e6 for t in times)
        from_call.extend((t - before) / 1e6 for t in times)
    return {
        "watchers": watchers,
        "client": client,
        "procs": procs,
        "rounds": rounds,
        "interval_s": interval,
        "open_seconds": open_seconds,
        "open_failed": failed,
        "rss_before_kib": rss_before,
        "rss_after_open_kib": rss_after_open,
        "kib_per_watcher": (rss_after_open - rss_before) / watchers,
        "expected_deliveries": watchers * rounds,
        "delivered": delivered,
        "complete_watchers": sum(r.complete for r in reports),
        "client_errors": [e for r in reports for e in r.errors][:20],
        "from_ack_ms": summarize(from_ack),
        "from_call_ms": summarize(from_call),
        "write_phase_wall_s": wall,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
    }
