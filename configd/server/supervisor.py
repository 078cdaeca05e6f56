"""`configd serve --workers N`: a supervisor of N worker processes.

Each worker is a whole `configd serve` (the single-process code path) started with the
concrete ports the supervisor reserved, SO_REUSEPORT on both, over the same data directory.
The supervisor holds a bound (not listening) socket on each port for its whole life, so a
port 0 is picked once and stays the workers' while they restart. It serves nothing itself.

- A worker is ready once it printed its addresses (its servers are started by then).
- Each worker has a slot, 0..N-1 (`--worker-slot`, its `worker` label in /metrics); a
  replacement, after a death or in a rolling replacement, continues its predecessor's slot.
- A worker that dies is logged with its status and replaced; one that keeps dying within
  `STABLE_SECONDS` of its start is replaced after a doubling backoff (up to `MAX_BACKOFF`).
- SIGTERM/SIGINT: SIGTERM to every worker, SIGKILL to those still running after `grace`.
- SIGHUP is forwarded to every worker (reload).
- SIGUSR2: rolling replacement, one worker at a time; the new one is ready before the old
  one is told to drain (SIGTERM). A new worker that cannot start ends the roll; the old
  workers keep serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from configd.server.app import ListenFailure, _bind_reason, _probe_grpc, _resolve

log = logging.getLogger("configd")

READY = "configd: worker ready"
"""The line a worker prints once its addresses are printed: the supervisor waits for it."""

STABLE_SECONDS = 10.0
MAX_BACKOFF = 30.0
START_TIMEOUT = 120.0


def die_with_supervisor() -> None:
    """In a worker: be sent SIGTERM when the supervisor dies (even SIGKILLed), on Linux.

    Without it a killed supervisor would leave workers serving that nobody restarts or stops."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the supervisor died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


class WorkerFailed(Exception):
    """A worker exited (or hung) before it was ready."""

    def __init__(self, status: str) -> None:
        super().__init__(f"a worker exited during start ({status})")
        self.status = status


def describe(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def reserve(listener: str, address: str) -> tuple[socket.socket, str]:
    """A bound SO_REUSEPORT socket on `address` and the concrete host:port it holds.

    A fixed port is first probed without SO_REUSEPORT, so a port some other server holds
    fails here with the single process's message instead of being shared."""
    if listener == "grpc":
        _probe_grpc(address)
    else:
        port, infos = _resolve(listener, address)
        if port != 0:
            family, kind, proto, _, sockaddr = infos[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(sockaddr)
                except OSError as exc:
                    raise ListenFailure(listener, address, _bind_reason(exc)) from exc
    family, kind, proto, _, sockaddr = _resolve(listener, address)[1][0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise ListenFailure(listener, address, _bind_reason(exc)) from exc
    host = address.rpartition(":")[0]
    return sock, f"{host or '0.0.0.0'}:{sock.getsockname()[1]}"


@dataclass(eq=False)
class _Worker:
    process: asyncio.subprocess.Process
    slot: int
    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)  # what it printed before READY
    retiring: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    """Runs `command` (a worker's argv) `count` times; `run()` returns the exit status."""

    def __init__(self, command: Sequence[str], count: int, *, grace: float = 10.0) -> None:
        self._command = list(command)
        self._count = count
        self._grace = grace
        self._workers: set[_Worker] = set()  # every started process not yet reaped
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._stop = asyncio.Event()
        self._rolling: asyncio.Task[None] | None = None
        self._quick_deaths = 0

    async def run(self, banner: Sequence[str]) -> int:
        """Start the workers, print `banner` and what they printed, serve until stopped."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._forward, signal.SIGHUP)
        loop.add_signal_handler(signal.SIGUSR2, self.replace_all)
        try:
            # One first, so a worker that cannot start says why once, not N times.
            first = await self._spawn(0)
            rest = await asyncio.gather(
                *(self._spawn(slot) for slot in range(1, self._count)), return_exceptions=True
            )
        except WorkerFailed as exc:
            log.error("cannot start the workers: %s", exc)
            await self._terminate(list(self._workers))
            return 1
        failed = [r for r in rest if isinstance(r, BaseException)]
        if failed:
            log.error("cannot start the workers: %s", failed[0])
            await self._terminate(list(self._workers))
            return 1
        started = [first, *(r for r in rest if isinstance(r, _Worker))]
        for worker in started:
            self._watch(worker)
        for line in banner:
            print(line)
        seen: set[str] = set()
        for worker in started:
            for line in worker.lines:
                if "listening on" not in line and line not in seen:
                    seen.add(line)
                    print(line)
        print(
            f"configd: supervising {self._count} workers: {' '.join(str(w.pid) for w in started)}"
        )
        sys.stdout.flush()
        await self._stop.wait()
        log.info("stopping %d workers", len(self._workers))
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await self._terminate(list(self._workers))
        log.info("stopped")
        return 0

    def replace_all(self) -> None:
        """Rolling replacement (SIGUSR2), unless one is running or the supervisor stops."""
        if self._stopping:
            return
        if self._rolling is not None and not self._rolling.done():
            log.warning("rolling replacement already in progress; signal ignored")
            return
        self._rolling = self._task(self._roll())

    def _forward(self, signum: signal.Signals) -> None:
        log.info("forwarding %s to %d workers", signum.name, len(self._workers))
        for worker in self._workers:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signum)

    def _task(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _spawn(self, slot: int) -> _Worker:
        """A new worker in `slot`, once ready; WorkerFailed if it exits (or hangs) before."""
        # A session of its own: a terminal's Ctrl-C reaches the supervisor only, which stops
        # the workers itself (rather than racing their exits against its own stop).
        process = await asyncio.create_subprocess_exec(
            *self._command,
            "--worker-slot",
            str(slot),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        worker = _Worker(process, slot)
        self._workers.add(worker)
        try:
            await asyncio.wait_for(self._until_ready(worker), START_TIMEOUT)
        except BaseException as exc:
            if process.returncode is None:
                process.kill()
            await process.wait()
            self._workers.discard(worker)
            if isinstance(exc, asyncio.TimeoutError):
                raise WorkerFailed(f"not ready within {START_TIMEOUT:.0f} s") from exc
            raise
        log.info("worker %d ready", worker.pid)
        return worker

    async def _until_ready(self, worker: _Worker) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        while True:
            line = await stdout.readline()
            if not line:
                raise WorkerFailed(describe(await worker.process.wait()))
            text = line.decode(errors="replace").rstrip("\n")
            if text == READY:
                return
            worker.lines.append(text)

    def _watch(self, worker: _Worker) -> None:
        self._task(self._drain(worker))
        self._task(self._reap(worker))

    async def _drain(self, worker: _Worker) -> None:
        """Read what the worker prints later, so its pipe never fills."""
        stdout = worker.process.stdout
        assert stdout is not None
        while await stdout.readline():
            pass

    async def _reap(self, worker: _Worker) -> None:
        status = describe(await worker.process.wait())
        self._workers.discard(worker)
        lived = time.monotonic() - worker.started
        if self._stopping or worker.retiring:
            log.info("worker %d stopped (%s)", worker.pid, status)
            return
        log.warning(
            "worker %d exited (%s) after %.1f s; starting a replacement", worker.pid, status, lived
        )
        self._quick_deaths = self._quick_deaths + 1 if lived < STABLE_SECONDS else 0
        await self._replace_dead(worker.slot)

    async def _replace_dead(self, slot: int) -> None:
        while not self._stopping:
            if self._quick_deaths > 1:
                delay = min(0.5 * 2 ** (self._quick_deaths - 2), MAX_BACKOFF)
                log.warning("workers keep dying at start; next start in %.1f s", delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stopping or self._stop.is_set():
                    return
            try:
                worker = await self._spawn(slot)
            except WorkerFailed as exc:
                log.warning("replacement worker failed: %s", exc)
                self._quick_deaths += 1
                continue
            self._watch(worker)
            return

    async def _roll(self) -> None:
        old = [w for w in self._workers if not w.retiring]
        log.info("rolling replacement of %d workers", len(old))
        for worker in old:
            if self._stopping:
                return
            if worker.process.returncode is not None:
                continue  # died meanwhile: replaced as any dead worker
            try:
                new = await self._spawn(worker.slot)
            except WorkerFailed as exc:
                log.error("rolling replacement stopped: %s; the old workers keep serving", exc)
                return
            self._watch(new)
            worker.retiring = True
            log.info("worker %d replaces worker %d; draining %d", new.pid, worker.pid, worker.pid)
            await self._terminate([worker])
        log.info("rolling replacement done")

    async def _terminate(self, workers: list[_Worker]) -> None:
        """SIGTERM, wait up to the grace, then SIGKILL."""
        running = [w.process for w in workers if w.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if not running:
            return
        waits = [asyncio.ensure_future(p.wait()) for p in running]
        _, pending = await asyncio.wait(waits, timeout=self._grace)
        if pending:
            for process in running:
                if process.returncode is None:
                    log.warning(
                        "worker %d did not stop within %.0f s: SIGKILL", process.pid, self._grace
                    )
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.wait(waits)
