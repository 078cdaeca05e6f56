"""CORS for gRPC-Web: which browser origins may call configd, preflight and response headers.

Only origins given with `--cors-origin` (or `*`) get CORS headers; a page served by configd
itself (the console at /ui) is same-origin and needs none. Credentials (cookies) are never
allowed: the console authenticates with an `authorization` header, which CORS treats as an
ordinary request header.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# Headers a gRPC-Web client sends (connect-web, protobuf-ts, grpc-web) plus auth.
BASE_ALLOW_HEADERS = (
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
)
# Without these exposed, browser clients see "missing trailer" instead of the real status.
BASE_EXPOSE_HEADERS = ("grpc-status", "grpc-message", "grpc-status-details-bin")
ALLOW_METHODS = "POST, OPTIONS"
MAX_AGE_SECONDS = 600

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class CorsPolicy:
    """The allowed origins; `*` allows any origin (the exact origin is still echoed)."""

    def __init__(self, origins: Sequence[str]) -> None:
        cleaned = [origin.strip().rstrip("/") for origin in origins if origin.strip()]
        self._any = "*" in cleaned
        self._origins = frozenset(origin.lower() for origin in cleaned if origin != "*")

    def allows(self, origin: str) -> bool:
        return self._any or origin.lower() in self._origins

    @staticmethod
    def is_same_origin(request: web.Request, origin: str) -> bool:
        return origin.lower() == f"{request.scheme}://{request.host}".lower()

    def check(self, request: web.Request) -> str | None:
        """None if the request may proceed, else the refusal message.

        Requests without `Origin` (non-browser clients) and same-origin pages always pass.
        """
        origin = request.headers.get("Origin")
        if origin is None or self.is_same_origin(request, origin) or self.allows(origin):
            return None
        return (
            f"configd: origin {origin} is not allowed to call configd; start the server with "
            f"--cors-origin {origin} to allow it"
        )

    def preflight(self, request: web.Request) -> web.Response:
        """Answer an OPTIONS preflight: echo the exact origin or refuse with 403."""
        refusal = self.check(request)
        if refusal is not None:
            return web.Response(status=403, text=refusal + "\n")
        headers = {"Allow": ALLOW_METHODS}
        origin = request.headers.get("Origin")
        if origin is not None and not self.is_same_origin(request, origin):
            requested = request.headers.get("Access-Control-Request-Headers", "")
            headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": ALLOW_METHODS,
                    "Access-Control-Allow-Headers": ", ".join(_allow_headers(requested)),
                    "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
                    "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
                }
            )
        return web.Response(status=204, headers=headers)

    def response_headers(
        self, request: web.Request, extra_exposed: Iterable[str] = ()
    ) -> dict[str, str]:
        """Headers for an actual (non-preflight) response to an allowed request."""
        origin = request.headers.get("Origin")
        if origin is None or self.is_same_origin(request, origin):
            return {}
        exposed = list(BASE_EXPOSE_HEADERS)
        exposed += [name for name in extra_exposed if name not in exposed]
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": ", ".join(exposed),
            "Vary": "Origin",
        }


def _allow_headers(requested: str) -> list[str]:
    """The base list plus custom metadata headers the client asked for (valid tokens only)."""
    names = list(BASE_ALLOW_HEADERS)
    for raw in requested.split(","):
        name = raw.strip().lower()
        if name and _TOKEN.match(name) and name not in names:
            names.append(name)
    return names
