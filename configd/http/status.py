"""Operator endpoints on the HTTP listener: /metrics, /readyz and /debug/configz.

/healthz (in http.listener) answers "the process is alive"; /readyz answers "send me
traffic": the storage is open and the gRPC server serves, and it turns 503 as soon as a
graceful stop begins. /debug/configz is what an operator asks first: version, uptime,
revisions, counts, limits and where the data lives, as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

Exposition = Callable[[], tuple[bytes, str]]
"""The metrics page, rendered at each scrape: its body and its content type."""


def add_routes(
    app: web.Application,
    *,
    metrics: Exposition,
    ready: Callable[[], bool],
    configz: Callable[[], Mapping[str, Any]],
) -> None:
    """The routes; the assembly passes what they show (no import of the layer above)."""

    async def metrics_handler(request: web.Request) -> web.Response:
        body, content_type = metrics()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def readyz(request: web.Request) -> web.Response:
        if ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready"}, status=503)

    async def configz_handler(request: web.Request) -> web.Response:
        return web.json_response(dict(configz()), dumps=_dumps)

    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/debug/configz", configz_handler)


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
