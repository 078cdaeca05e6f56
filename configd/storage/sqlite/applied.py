"""How far each process sharing the SQLite store has applied: the compaction floor.

Compaction must never drop history a live process still needs to catch up (DESIGN.md,
"Replicas"). Each serving process keeps `<data_dir>/applied/<pid>-<hex>.json`
({"revision": R, "updated_at": t}: it has applied every revision up to R), replaced
atomically, and holds `<pid>-<hex>.lock` exclusive (flock) for its whole life, taken before
its record is first written and released after the record is removed. So a record whose lock
is free belongs to a process that died, however it died (SIGKILL included), and is skipped and
removed; the random suffix means a reused pid never matters. A record not refreshed for
STALE_AFTER seconds (a stopped or hung process) is skipped too, so nobody holds compaction
back forever; a process that resumes after that and finds its history compacted stops
(configd.store.follower).

A process registers (with revision 0: "I need everything") before it loads its state, and a
compaction reads the records under the store's write lock, so a starting process is either
seen by the compaction or loads after it (and then needs nothing the compaction dropped).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from pathlib import Path
from typing import IO

from configd.core.errors import StorageFailure
from configd.storage.sqlite.files import APPLIED_DIR

STALE_AFTER = 60.0
"""Seconds after which a live process's record no longer holds compaction back."""


class AppliedRecords:
    """This process's record, and the reading of everyone's."""

    def __init__(self, data_dir: Path, *, stale_after: float = STALE_AFTER) -> None:
        self._dir = data_dir / APPLIED_DIR
        self._name = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._stale_after = stale_after
        self._lock: IO[bytes] | None = None
        self.revision = -1  # what the record says now (-1: no record)
        # What this process has applied as far as it told us (ahead of its record by up to a
        # heartbeat): its own compaction counts this.
        self.applied = 0

    @property
    def _record(self) -> Path:
        return self._dir / f"{self._name}.json"

    def register(self) -> None:
        """Take this process's lock and record revision 0, before the state is loaded."""
        try:
            self._dir.mkdir(mode=0o700, exist_ok=True)
            # Held open (and locked) until close().
            lock = open(self._dir / f"{self._name}.lock", "a+b")  # noqa: SIM115
        except OSError as exc:
            raise StorageFailure(
                f"cannot create {self._dir}: {exc.strerror}; check that the data directory "
                "is writable"
            ) from exc
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # a fresh name: nobody else has it
        self._lock = lock
        self.applied = 0
        self.write(0)

    def write(self, revision: int) -> None:
        """Record that this process has applied every revision up to `revision`."""
        if self._lock is None:
            return
        partial = self._dir / f"{self._name}.tmp"
        try:
            partial.write_text(json.dumps({"revision": revision, "updated_at": time.time()}))
            os.replace(partial, self._record)  # readers see the old record or the new one
        except OSError as exc:
            raise StorageFailure(f"cannot write {self._record}: {exc.strerror}") from exc
        self.revision = revision

    def floor(self) -> int | None:
        """The lowest revision applied by a live process sharing the store (this one
        included), or None if no live process has a fresh record."""
        now = time.time()
        lowest: int | None = None
        try:
            names = sorted(p.stem for p in self._dir.glob("*.json"))
        except OSError:
            return None
        if self._lock is not None:
            lowest = self.applied
        for name in names:
            if name == self._name or not self._owner_alive(name):
                continue
            try:
                record = json.loads((self._dir / f"{name}.json").read_text())
                revision, updated_at = int(record["revision"]), float(record["updated_at"])
            except FileNotFoundError:
                continue  # its owner stopped meanwhile
            except (OSError, ValueError, KeyError, TypeError):
                revision, updated_at = 0, now  # unreadable: assume the worst
            if now - updated_at > self._stale_after:
                continue
            lowest = revision if lowest is None else min(lowest, revision)
        return lowest

    def _owner_alive(self, name: str) -> bool:
        """Whether the process of record `name` still holds its lock; removes its files
        if not."""
        try:
            with open(self._dir / f"{name}.lock", "rb") as lock:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    return True
        except FileNotFoundError:
            pass  # removed by another reader: its owner is gone
        except OSError:
            return True  # cannot tell: keep holding compaction back
        for suffix in (".json", ".tmp", ".lock"):
            with contextlib.suppress(OSError):
                (self._dir / f"{name}{suffix}").unlink()
        return False

    def close(self) -> None:
        """Remove this process's record, then release its lock; harmless twice."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        for suffix in (".json", ".tmp", ".lock"):
            with contextlib.suppress(OSError):
                (self._dir / f"{self._name}{suffix}").unlink()
        lock.close()
        self.revision = -1
