"""The console as shipped: served at /ui, bundle in sync with its sources, licenses permissive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from web_helpers import npm_available

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess

ROOT = Path(__file__).resolve().parents[2]


async def test_ui_serves_the_console(shared_server: ConfigdProcess) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(shared_server.http_url + "/ui", allow_redirects=False) as response:
            assert response.status == 308
            assert response.headers["Location"] == "/ui/"
        async with http.get(shared_server.http_url + "/ui/") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
            assert '<script type="module" src="console.js">' in await response.text()
        async with http.get(shared_server.http_url + "/ui/console.js") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert response.headers["Content-Encoding"] == "gzip"
            assert len(await response.read()) > 10_000
            etag = response.headers["ETag"]
        revalidate = {"If-None-Match": etag}
        async with http.get(
            shared_server.http_url + "/ui/console.js", headers=revalidate
        ) as response:
            assert response.status == 304
        async with http.get(shared_server.http_url + "/ui/THIRD_PARTY_LICENSES.txt") as response:
            assert "@connectrpc/connect-web" in await response.text()
        async with http.get(shared_server.http_url + "/ui/nope.js") as response:
            assert response.status == 404


def test_licenses_of_everything_shipped_are_permissive() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_licenses.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    shipped_names = ("@connectrpc/connect-web", "@bufbuild/protobuf", "aiohttp", "grpcio", "PyYAML")
    for shipped in shipped_names:
        assert shipped in done.stdout
    assert "none under GPL/LGPL/AGPL" in done.stdout
    # psycopg (LGPL-3.0) only in the opt-in PostgreSQL extra, listed as such.
    assert "opt-in extra postgresql" in done.stdout
    assert all(" opt-in " in line for line in done.stdout.splitlines() if "psycopg" in line)


def test_license_check_rejects_copyleft() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import check_licenses
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    for text in ("GPL-3.0-only", "LGPL-2.1-or-later", "AGPL-3.0", "GNU General Public License v2"):
        assert check_licenses.Package("npm", "x", "1", text, True).forbidden, text
    for text in ("MIT", "Apache-2.0", "(Apache-2.0 AND BSD-3-Clause)", "ISC", "MPL-2.0"):
        assert not check_licenses.Package("npm", "x", "1", text, True).forbidden, text
    # The opt-in backend extra (configd[postgresql]) may be LGPL, never GPL or AGPL.
    for text in ("LGPL-3.0-only", "GNU Lesser General Public License v3"):
        assert not check_licenses.Package("pypi", "x", "1", text, True, opt_in=True).forbidden
    for text in ("GPL-3.0-only", "AGPL-3.0", "GNU General Public License v2"):
        assert check_licenses.Package("pypi", "x", "1", text, True, opt_in=True).forbidden, text


@pytest.mark.slow
def test_shipped_bundle_matches_its_sources() -> None:
    """Rebuild (codegen, typecheck, esbuild) into a temp dir and compare byte for byte."""
    if not npm_available():
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed to check the console bundle")
        pytest.skip("node/npm not installed")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_console.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
