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
from collections.abc import Callable, Iterator
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


def read_live(data_dir: Path, kind: str) -> Iterator[dict[str, Any]]:
    """The pages of the live workers' `<kind>-<pid>.json` files (WorkerFile), each with its
    "pid" an int. A file of a pid no longer alive is removed: a SIGKILLed worker could not
    remove its own file, so whoever reads it next does."""
    for path in sorted(run_dir(data_dir).glob(f"{kind}-*.json")):
        try:
            page = json.loads(path.read_text())
            page["pid"] = int(page["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being replaced, or removed meanwhile
        if not alive(page["pid"]):
            path.unlink(missing_ok=True)
            continue
        yield page


def read_all(data_dir: Path) -> list[dict[str, Any]]:
    """The live workers' statuses, by pid, each with its uptime in seconds."""
    now = time.time()
    found = []
    for status in read_live(data_dir, "worker"):
        try:
            status["uptime_seconds"] = round(now - float(status["started_at"]), 3)
        except (ValueError, KeyError, TypeError):
            continue
        found.append(status)
    return sorted(found, key=lambda s: int(s["pid"]))


class WorkerFile:
    """`<data_dir>/run/<kind>-<pid>.json`: one page about this worker, rewritten every
    INTERVAL by a task (atomic replace: readers never see half a file) until close(), which
    removes it. `page()` gives its content, without the "pid" it always has."""

    def __init__(self, data_dir: Path, kind: str, page: Callable[[], dict[str, Any]]) -> None:
        self._dir = run_dir(data_dir)
        self._kind = kind
        self._path = self._dir / f"{kind}-{os.getpid()}.json"
        self._page = page
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._dir.mkdir(mode=0o700, exist_ok=True)
        self.write()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def write(self) -> None:
        page = {"pid": os.getpid(), **self._page()}
        partial = self._path.with_suffix(".tmp")
        partial.write_text(json.dumps(page, separators=(",", ":")))
        os.replace(partial, self._path)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            try:
                self.write()
            except OSError:
                log.exception("cannot write the worker %s file %s", self._kind, self._path)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._path.unlink(missing_ok=True)
        self._path.with_suffix(".tmp").unlink(missing_ok=True)


class StatusFile(WorkerFile):
    """This worker's status file (`worker-<pid>.json`), listed by /debug/configz."""

    def __init__(
        self,
        data_dir: Path,
        slot: int,
        revision: Callable[[], int],
        maintainer: Callable[[], bool],
    ) -> None:
        started_at = time.time()
        super().__init__(
            data_dir,
            "worker",
            lambda: {
                "slot": slot,
                "started_at": started_at,
                "revision": revision(),
                "maintainer": maintainer(),
                "updated_at": time.time(),
            },
        )
