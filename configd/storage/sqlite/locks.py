"""Who may use a data directory at once: replicas share it, restores and other versions don't.

Three flock(2) files in the data directory (flock locks belong to an open file, so two
storages in one process exclude each other exactly as two processes do):

- `configd.lock` (LOCK_FILE): every serving process holds it *shared* for its whole life; a
  restore takes it *exclusive*, so a restore never runs under a server and no server starts
  during a restore. A configd from before replicas held it exclusive, so it and a newer one
  never share a directory. The first process to serve writes who it is into the file
  ("configd 0.1.0, database schema 2"); a later one that is something else is refused, since
  replicas must plan and validate writes alike and one must not migrate the database under
  another.
- `configd.start.lock`: held exclusive (briefly) while a process joins, migrates and loads, and
  while a restore runs, so two starting processes never both think they are first.
- `configd.maintenance.lock`: one serving process holds it exclusive, taken without waiting;
  that process alone compacts history in the background and checkpoints the WAL. When it
  exits, another takes it over (each process retries now and then).
- `configd.write.lock` (WRITE_TURN_FILE): the write turn. A process holds it exclusive from
  just before its batch's commit until the commit answers, so the processes take turns: the
  holder can be overtaken at most once (by a commit that began before it got the turn; it
  then catches up and plans again, still holding it), never again and again. SQLite's own
  write lock is what keeps the store consistent; this one only keeps writers from starving.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from configd.core.errors import StorageFailure
from configd.storage.sqlite.files import (
    LOCK_FILE,
    MAINTENANCE_LOCK_FILE,
    START_LOCK_FILE,
    WRITE_TURN_FILE,
)

START_TIMEOUT = 60.0
"""Seconds a process waits for another one to finish starting (or a restore to finish)."""

RESTORING = "restore in progress"


def _open(path: Path) -> IO[bytes]:
    try:
        return open(path, "a+b")
    except OSError as exc:
        raise StorageFailure(f"cannot open lock file {path}: {exc.strerror}") from exc


def _try(file: IO[bytes], operation: int) -> bool:
    try:
        fcntl.flock(file.fileno(), operation | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _record(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read(500).decode(errors="replace").strip()


def _write_record(file: IO[bytes], text: str) -> None:
    file.seek(0)
    file.truncate()
    file.write(text.encode() + b"\n")
    file.flush()


@contextlib.contextmanager
def start_lock_blocking(data_dir: Path, timeout: float = START_TIMEOUT) -> Iterator[IO[bytes]]:
    """The start lock for a synchronous caller (restore), waiting up to `timeout`."""
    file = _open(data_dir / START_LOCK_FILE)
    try:
        deadline = time.monotonic() + timeout
        while not _try(file, fcntl.LOCK_EX):
            if time.monotonic() > deadline:
                raise StorageFailure(
                    f"another configd process has been starting in {data_dir} for over "
                    f"{timeout:g} s; try again once it is up"
                )
            time.sleep(0.05)
        yield file
    finally:
        file.close()


class DataDirLocks:
    """The locks one serving process holds on its data directory."""

    def __init__(self, data_dir: Path, identity: str) -> None:
        self.data_dir = data_dir
        self.identity = identity
        self._start: IO[bytes] | None = None
        self._serve: IO[bytes] | None = None
        self._maintenance: IO[bytes] | None = None
        self._write_turn: IO[bytes] | None = None

    async def begin_start(self) -> None:
        """Take the start lock (others may be starting: wait for them, up to START_TIMEOUT)."""
        timeout = START_TIMEOUT
        file = _open(self.data_dir / START_LOCK_FILE)
        deadline = time.monotonic() + timeout
        while not _try(file, fcntl.LOCK_EX):
            if time.monotonic() > deadline:
                file.close()
                raise StorageFailure(
                    f"another configd process (or a restore) has been starting in "
                    f"{self.data_dir} for over {timeout:g} s; try again once it is done"
                )
            await asyncio.sleep(0.02)
        self._start = file

    def end_start(self) -> None:
        """Release the start lock: this process has joined (or given up)."""
        if self._start is not None:
            self._start.close()
            self._start = None

    def join(self) -> None:
        """Take the serving lock, shared; refuse if unsafe. Call between begin_start and
        end_start."""
        file = _open(self.data_dir / LOCK_FILE)
        try:
            if _try(file, fcntl.LOCK_EX):
                # Nobody serves: this process is first and says who serves the directory.
                _write_record(file, self.identity)
                if not _try(file, fcntl.LOCK_SH):  # converts; the start lock keeps peers out
                    raise self._exclusive_refusal(file)
            elif not _try(file, fcntl.LOCK_SH):
                raise self._exclusive_refusal(file)
            else:
                serving = _record(file)
                if serving != self.identity:
                    raise StorageFailure(
                        f"the data directory {self.data_dir} is served by "
                        f"{serving or 'an unknown configd'}, and this is {self.identity}: "
                        "replicas sharing a data directory must all run the same configd; "
                        "stop the others first, or choose another --data-dir"
                    )
        except BaseException:
            file.close()
            raise
        self._serve = file

    def _exclusive_refusal(self, file: IO[bytes]) -> StorageFailure:
        if _record(file).startswith(RESTORING):
            return StorageFailure(
                f"a restore into the data directory {self.data_dir} is in progress; start "
                "configd once it has finished"
            )
        return StorageFailure(
            f"another configd process is using the data directory {self.data_dir} and does "
            "not share it (an older configd, or a restore); stop it or choose another --data-dir"
        )

    def claim_sole_use(self, purpose: str) -> None:
        """Make this process the only one serving the directory, and keep every other out
        until release(): the shared serving lock becomes exclusive. StorageFailure if another
        process serves it."""
        if self._serve is None or not _try(self._serve, fcntl.LOCK_EX):
            raise StorageFailure(
                f"a configd process is serving {self.data_dir}; stop it (every replica) "
                f"before {purpose}"
            )

    @property
    def maintainer(self) -> bool:
        """Whether this process holds the maintenance lock."""
        return self._maintenance is not None

    def try_maintenance(self) -> bool:
        """Take the maintenance lock if nobody holds it (never waits); True if held now."""
        if self._maintenance is None and self._serve is not None:
            file = _open(self.data_dir / MAINTENANCE_LOCK_FILE)
            if _try(file, fcntl.LOCK_EX):
                _write_record(file, f"pid {os.getpid()}")
                self._maintenance = file
            else:
                file.close()
        return self._maintenance is not None

    def try_write_turn(self) -> bool:
        """Take the write turn if no other process holds it (never waits; two syscalls on
        the event loop, no thread hand-off); True if held now. Held again: no-op."""
        if self._write_turn is None:
            self._write_turn = _open(self.data_dir / WRITE_TURN_FILE)
        return _try(self._write_turn, fcntl.LOCK_EX)

    def end_write_turn(self) -> None:
        """Give the write turn to the next process."""
        if self._write_turn is not None:
            fcntl.flock(self._write_turn.fileno(), fcntl.LOCK_UN)

    def release(self) -> None:
        """Release every lock; harmless twice."""
        for file in (self._maintenance, self._serve, self._start, self._write_turn):
            if file is not None:
                file.close()
        self._maintenance = self._serve = self._start = self._write_turn = None
