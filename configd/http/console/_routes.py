"""Routes for the console: / and /ui redirect to /ui/, which serves index.html and its assets."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from aiohttp import web

PREFIX = "/ui"
# Strict by default: the console loads only its own script and style and talks only to the
# origin that served it (configd itself).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def static_dir() -> Path:
    return Path(str(resources.files("configd.http.console") / "static"))


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str


class _Assets:
    """The built files, read and compressed once at startup (a few hundred KB, kept in memory).

    Responses carry an ETag and `no-cache`, so a browser revalidates and gets a 304 until the
    server is upgraded.
    """

    def __init__(self, root: Path) -> None:
        self._files: dict[str, _Asset] = {}
        if root.is_dir():
            for path in sorted(root.iterdir()):
                if path.is_file() and path.suffix in _TYPES:
                    body = path.read_bytes()
                    self._files[path.name] = _Asset(
                        body=body,
                        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                        content_type=_TYPES[path.suffix],
                        etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
                    )

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._serve(request, "index.html")

    async def asset(self, request: web.Request) -> web.StreamResponse:
        return self._serve(request, request.match_info["name"])

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(f"{PREFIX}/")

    async def root(self, request: web.Request) -> web.StreamResponse:
        # Temporary: the root may serve something else one day, and browsers cache a 308.
        raise web.HTTPFound(f"{PREFIX}/")

    def _serve(self, request: web.Request, name: str) -> web.StreamResponse:
        asset = self._files.get(name)
        if asset is None:
            if name == "index.html":
                return web.Response(
                    status=503,
                    text="configd: the console assets are missing from this installation; "
                    "rebuild them with python scripts/build_console.py\n",
                )
            raise web.HTTPNotFound(text=f"configd: no console file {name}\n")
        headers = {
            "Cache-Control": "no-cache",
            "ETag": asset.etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if name == "index.html":
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["Referrer-Policy"] = "no-referrer"
        if asset.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = asset.content_type
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=asset.gzipped, headers=headers)
        return web.Response(body=asset.body, headers=headers)


def add_routes(app: web.Application) -> None:
    """Serve the console at /ui/ (its assets as /ui/<file>); / leads there."""
    assets = _Assets(static_dir())
    app.router.add_get("/", assets.root)
    app.router.add_get(PREFIX, assets.redirect)
    app.router.add_get(f"{PREFIX}/", assets.index)
    app.router.add_get(PREFIX + r"/{name:[A-Za-z0-9_.-]+}", assets.asset)
