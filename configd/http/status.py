"""Operator endpoints on the HTTP listener: /metrics, /readyz and /debug/configz.

/healthz (in http.listener) answers "the process is alive"; /readyz answers "send me
traffic": 200 or 503 with a JSON body saying why ({"status": "not ready", "reason": ...}),
judged by the assembly (configd.server.app: serving, not stopping, not lagging the store).
/debug/configz is what an operator asks first: version, uptime, revisions, counts, limits
and where the data lives, as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Exposition = Callable[[], tuple[bytes, str]]
"""The metrics page, rendered at each scrape: its body and its content type."""


@dataclass(frozen=True, slots=True)
class Readiness:
    """What /readyz answers: ready or not, why not, and figures shown either way."""

    ready: bool
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


def add_routes(
    app: web.Application,
    *,
    metrics: Exposition,
    ready: Callable[[], Readiness],
    configz: Callable[[], Mapping[str, Any]],
) -> None:
    """The routes; the assembly passes what they show (no import of the layer above)."""

    async def metrics_handler(request: web.Request) -> web.Response:
        body, content_type = metrics()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def readyz(request: web.Request) -> web.Response:
        readiness = ready()
        body: dict[str, Any] = {"status": "ready" if readiness.ready else "not ready"}
        if readiness.reason:
            body["reason"] = readiness.reason
        body.update(readiness.details)
        return web.json_response(body, status=200 if readiness.ready else 503)

    async def configz_handler(request: web.Request) -> web.Response:
        return web.json_response(dict(configz()), dumps=_dumps)

    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/debug/configz", configz_handler)


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
