"""Probes of a configd's HTTP pages: /readyz and /metrics, answered whatever their status."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

from configd.testing import ConfigdProcess


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def readyz(server: ConfigdProcess) -> tuple[int, str]:
    return await asyncio.to_thread(http_get, f"{server.http_url}/readyz")


async def regressed_metric(server: ConfigdProcess) -> str:
    _, text = await asyncio.to_thread(http_get, f"{server.http_url}/metrics")
    return next(line for line in text.splitlines() if line.startswith("configd_store_regressed "))
