"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, a configd with CORS,
and the console's shipped bundle served from another origin (so CORS preflight is real)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from web_helpers import CHROMIUM, CHROMIUM_ARGS, require_browser

from configd.testing import ConfigdProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

STATIC = Path(__file__).resolve().parents[2] / "configd" / "http" / "console" / "static"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The shipped console files, served by a plain static server on its own port."""
    handler = functools.partial(_QuietHandler, directory=str(STATIC))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def api_server(
    tmp_path_factory: pytest.TempPathFactory, page_origin: str
) -> Iterator[ConfigdProcess]:
    """configd allowing the page's origin; tests use distinct namespaces."""
    server = ConfigdProcess(tmp_path_factory.mktemp("web") / "data", "--cors-origin", page_origin)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def auth_api_server(
    tmp_path_factory: pytest.TempPathFactory, page_origin: str
) -> Iterator[ConfigdProcess]:
    """Like api_server, with authentication on (token: `auth_api_server.admin_token`)."""
    server = ConfigdProcess(
        tmp_path_factory.mktemp("web-auth") / "data", "--cors-origin", page_origin, auth=True
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context; any uncaught page error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"errors in the page: {errors}"
