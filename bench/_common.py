"""Shared helpers for configd benchmark scripts (not a test module, not part of the package).

A benchmark starts its own `configd serve` subprocess (configd.testing.ConfigdProcess) on
ephemeral loopback ports with a temporary data directory, reads the server's memory and CPU
time from /proc (Linux), and summarises samples with nearest-rank percentiles. Timestamps that
cross processes use `time.monotonic_ns()`: CLOCK_MONOTONIC is one system-wide clock on Linux.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Channel options of every benchmark watcher, configd's and etcd's alike:
#  * each watcher its own TCP connection: without a local pool, channels to one target with the
#    same arguments share a subchannel (one connection for all of them);
#  * no BDP probing, as the configd SDK does: by default a gRPC client answers each burst of
#    received data with a PING, so every delivery cost the server a PING ACK too (twice the
#    sendmsg calls, plus a read and a thread wake-up). Watch messages are small; probing for
#    bandwidth buys nothing there.
WATCHER_CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.http2.bdp_probe", 0)]


# -- load ---------------------------------------------------------------------------------------


async def closed_loop(
    callers: Sequence[Callable[[int], Awaitable[object]]], per_caller: int, start_at: float
) -> tuple[list[float], float, float]:
    """Every caller at once, each making `per_caller` calls one after another (call i gets i),
    from `start_at` (epoch seconds, so that client processes start together). Returns each
    call's latency (s), the elapsed time (s) and this process's CPU seconds over the load alone
    (not over starting Python and importing grpc)."""
    await asyncio.sleep(max(0.0, start_at - time.time()))
    latencies: list[float] = []

    async def one_caller(caller: Callable[[int], Awaitable[object]]) -> None:
        for i in range(per_caller):
            started = time.perf_counter()
            await caller(i)
            latencies.append(time.perf_counter() - started)

    cpu_before, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one_caller(caller) for caller in callers))
    return latencies, time.perf_counter() - began, time.process_time() - cpu_before


# -- /proc --------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS), in KiB."""
    return _status_field(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    """Peak resident set size of a process (VmHWM), in KiB."""
    return _status_field(pid, "VmHWM")


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])  # "VmRSS:  123456 kB"
    raise RuntimeError(f"/proc/{pid}/status has no {name}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (its threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _CLOCK_TICKS


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def open_files_limit(pid: int) -> int:
    """A process's soft RLIMIT_NOFILE ("Max open files" in /proc/PID/limits)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return -1 if soft == "unlimited" else int(soft)
    raise RuntimeError(f"/proc/{pid}/limits has no Max open files")


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (e.g. the workers of `configd serve --workers N`),
    by scanning /proc (this kernel may lack /proc/PID/task/TID/children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":  # field 4 of proc(5): the parent
            found.append(int(entry))
    return sorted(found)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_connections() -> Iterator[tuple[int, int, str]]:
    """(local port, remote port, inode) of every established TCP socket on this host."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            next(rows)  # the header
            for row in rows:
                # "sl local_address rem_address st ... inode"; an address is HEX_IP:HEX_PORT
                cols = row.split()
                if cols[3] == "01":  # ESTABLISHED
                    local = int(cols[1].rsplit(":", 1)[1], 16)
                    yield local, int(cols[2].rsplit(":", 1)[1], 16), cols[9]


def connection_owners(server_port: int, pids: Iterable[int]) -> dict[int, int]:
    """Which of `pids` holds the server end of each TCP connection to `server_port` on this
    host: {client port: pid}. This is how a benchmark tells which worker of `configd serve
    --workers N` a connection reached (the kernel picks one by SO_REUSEPORT hashing) without
    asking the server: /proc/PID/fd names each socket's inode, /proc/net/tcp{,6} each inode's
    ports."""
    owner_of_inode = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    return {
        remote: owner_of_inode[inode]
        for local, remote, inode in _tcp_connections()
        if local == server_port and inode in owner_of_inode
    }


def local_ports(server_port: int, pid: int | None = None) -> set[int]:
    """The local ports of a process's (default: this one's) TCP connections to `server_port`."""
    inodes = _socket_inodes(os.getpid() if pid is None else pid)
    return {
        local
        for local, remote, inode in _tcp_connections()
        if remote == server_port and inode in inodes
    }


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards `wanted` (capped by the hard limit);
    children inherit it. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# -- servers ------------------------------------------------------------------------------------


def server_processes(server: ConfigdProcess, workers: int) -> list[int]:
    """The processes that serve: the server itself, or the supervisor's N workers."""
    if workers == 1:
        return [server.pid]
    deadline = time.monotonic() + 60
    while len(pids := children(server.pid)) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pids)} of {workers} workers running after 60 s")
        time.sleep(0.05)
    return pids


def channels_per_worker(addr: str, pids: Sequence[int]) -> dict[int, Any]:
    """One gRPC channel (its own connection) per serving process: new connections until the
    kernel's SO_REUSEPORT hashing has put one on each (their server ends are found in /proc)."""
    import grpc

    from configd_client.wire import admin_pb2, admin_pb2_grpc

    port = int(addr.rsplit(":", 1)[1])
    found: dict[int, Any] = {}
    for _ in range(64 * len(pids)):
        before = local_ports(port)
        channel = grpc.insecure_channel(addr, options=[("grpc.use_local_subchannel_pool", 1)])
        admin_pb2_grpc.AdminServiceStub(channel).GetStatus(admin_pb2.GetStatusRequest())
        (mine,) = local_ports(port) - before
        owner = connection_owners(port, pids).get(mine)
        if owner is None or owner in found:
            channel.close()
            continue
        found[owner] = channel
        if len(found) == len(pids):
            return found
    raise RuntimeError(f"no connection reached every server process {list(pids)}")


def wait_applied(channels: Iterable[Any], revision: int) -> None:
    """Until every channel's server process has applied `revision` (a read with min_revision),
    so that a benchmark's load never meets a worker still catching up on its setup."""
    from configd_client.wire import config_pb2 as pb
    from configd_client.wire import config_pb2_grpc as pb_grpc

    for channel in channels:
        pb_grpc.ConfigServiceStub(channel).ListNamespaces(
            pb.ListNamespacesRequest(min_revision=revision)
        )


# -- statistics ---------------------------------------------------------------------------------


def percentile(samples: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (0 < q <= 100) of the samples (NaN if there are none)."""
    ordered = sorted(samples)  # linear when already sorted (timsort)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def summarize(samples: Iterable[float]) -> dict[str, float]:
    """count, p50, p90, p99, max and mean of the samples."""
    ordered = sorted(samples)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def median_of(rows: Sequence[Mapping[str, Any]], *path: str) -> float:
    """Median of a (nested) numeric field across result rows."""
    values = []
    for row in rows:
        value: Any = row
        for key in path:
            value = value[key]
        values.append(float(value))
    return statistics.median(values) if values else float("nan")


# -- results ------------------------------------------------------------------------------------


class JsonLines:
    """Appends one JSON object per line to a file under bench/results/ (gitignored), or to
    stdout when `stream` is given."""

    def __init__(self, name: str, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self.path: Path | None = None
        if stream is None:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.path = RESULTS_DIR / f"{name}-{stamp}.jsonl"

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True)
        if self._stream is not None:
            print(line, file=self._stream, flush=True)
        else:
            assert self.path is not None
            with self.path.open("a") as out:
                out.write(line + "\n")
