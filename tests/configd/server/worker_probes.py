"""Probes of a running `configd serve --workers N`, shared by the worker test modules."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from configd.testing import ConfigdProcess

DEADLINE = 60.0


def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Poll `condition`; a connection refused or reset counts as "not yet": a connection the
    kernel queued on a worker just killed or stopped is reset (SO_REUSEPORT)."""
    end = time.monotonic() + deadline
    while True:
        try:
            if condition():
                return
        except (OSError, http.client.HTTPException):
            pass
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        time.sleep(0.02)


def configz(server: ConfigdProcess) -> dict[str, Any]:
    """/debug/configz over a fresh connection (so the kernel may pick any worker)."""
    with urllib.request.urlopen(f"{server.http_url}/debug/configz", timeout=10) as reply:
        page: dict[str, Any] = json.load(reply)
        return page
