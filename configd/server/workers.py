"""Worker status files: how one worker of `configd serve --workers N` sees the others.

Each worker keeps `<data_dir>/run/worker-<pid>.json` (pid, slot, started_at, applied
revision, whether it holds the maintenance lock, updated_at), rewritten about once a second and
removed when it stops; /debug/configz on any worker reads them all. A file whose pid is no
longer alive (a SIGKILLed worker) is skipped and removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("configd")

INTERVAL = 1.0


def run_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def alive(pid: int) -> bool:
    """Whether a process `pid` exists (a pid reused after a SIGKILL counts: callers bound that)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_all(data_dir: Path) -> list[dict[str, Any]]:
    """The live workers' statuses, by pid, each with its uptime in seconds."""
    now = time.time()
    found = []
    for path in sorted(run_dir(data_dir).glob("worker-*.json")):
        try:
            status = json.loads(path.read_text())
            pid = int(status["pid"])
            started_at = float(status["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being replaced, or removed meanwhile
        if not alive(pid):
            # A SIGKILLed worker could not remove its own file; whoever reads it next does.
            path.unlink(missing_ok=True)
            continue
        status["uptime_seconds"] = round(now - started_at, 3)
        found.append(status)
    return sorted(found, key=lambda s: int(s["pid"]))


class StatusFile:
    """This worker's status file, kept current by a task until close()."""

    def __init__(
        self,
        data_dir: Path,
        slot: int,
        revision: Callable[[], int],
        maintainer: Callable[[], bool],
    ) -> None:
        self._dir = run_dir(data_dir)
        self._slot = slot
        self._path = self._dir / f"worker-{os.getpid()}.json"
        self._revision = revision
        self._maintainer = maintainer
        self._started_at = time.time()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._dir.mkdir(mode=0o700, exist_ok=True)
        self.write()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def write(self) -> None:
        status = {
            "pid": os.getpid(),
            "slot": self._slot,
            "started_at": self._started_at,
            "revision": self._revision(),
            "maintainer": self._maintainer(),
            "updated_at": time.time(),
        }
        partial = self._path.with_suffix(".tmp")
        partial.write_text(json.dumps(status))
        os.replace(partial, self._path)  # readers never see half a file

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            try:
                self.write()
            except OSError:
                log.exception("cannot write the worker status file %s", self._path)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._path.unlink(missing_ok=True)
        self._path.with_suffix(".tmp").unlink(missing_ok=True)
