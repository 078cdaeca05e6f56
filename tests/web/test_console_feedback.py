"""What the console tells its user (issue 18, points 12-17): refusals keep the input, messages
go away when they stop being true, counts stay live, long values fold, network failures say
what to do, and / leads to the console. Real configd, real headless Chromium."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import urllib.parse
import urllib.request

import grpc
import pytest
from web_helpers import configctl, require_browser

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

require_browser()
from console_pages import create, document, open_console, put, value_cell  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402


def create_with_schema(server: ConfigdProcess, ns: str, schema: object, doc: object) -> None:
    with grpc.insecure_channel(server.grpc_addr) as channel:
        pb_grpc.ConfigServiceStub(channel).CreateNamespace(
            pb.CreateNamespaceRequest(
                name=ns, schema_json=json.dumps(schema), document_json=json.dumps(doc)
            ),
            timeout=10,
        )


def count_of(ns: str) -> str:
    return f'.ns-item[data-ns="{ns}"] .count'


# -- 12: a refused new key keeps what was typed ------------------------------------------------


def test_a_refused_new_key_keeps_both_inputs_and_shows_why(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, ns, port=1)
    open_console(page, page_origin, api_server, ns)

    # Not allowed by the schema at all (additionalProperties: false).
    page.fill("#new-key", "nmae")
    page.fill("#new-value", '"web"')
    page.click("#new-add")
    violation = page.locator(".new-row .violation")
    expect(violation).to_contain_text("nmae")
    expect(page.locator("#new-key")).to_have_value("nmae")
    expect(page.locator("#new-value")).to_have_value('"web"')

    # Allowed key, wrong type: the violation points at it, the inputs stay.
    page.fill("#new-key", "name")
    page.fill("#new-value", "5")
    page.click("#new-add")
    expect(violation).to_have_attribute("data-path", "/name")
    expect(violation).to_contain_text("string")
    expect(page.locator("#new-key")).to_have_value("name")
    expect(page.locator("#new-value")).to_have_value("5")

    # A live change meanwhile does not wipe them either.
    put(api_server, ns, "port", "2", "meanwhile")
    expect(value_cell(page, "port")).to_have_text("2")
    expect(page.locator("#new-value")).to_have_value("5")

    page.fill("#new-value", '"web"')
    page.click("#new-add")
    expect(value_cell(page, "name")).to_have_text('"web"')
    expect(page.locator(".new-row .violation")).to_have_count(0)
    expect(page.locator("#new-key")).to_have_value("")
    expect(page.locator("#new-value")).to_have_value("")
    assert document(api_server, ns) == {"port": 2, "name": "web"}


# -- 13: messages go when they no longer apply -------------------------------------------------


def test_notice_and_message_do_not_outlive_their_write(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, ns, port=1)
    open_console(page, page_origin, api_server, ns)
    notice = page.locator("#ns-notice")

    page.fill("#publish-message", "raise the port")
    page.click('tr.key-row[data-key="port"] .edit-btn')
    page.fill('textarea.value-input[data-key="port"]', "2")
    page.click('tr.key-row[data-key="port"] .publish-btn')
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Published port at r")
    # The message belonged to that write: the next edit starts without it.
    expect(page.locator("#publish-message")).to_have_value("")

    # Someone else writes: "Published ... at rN" no longer describes the namespace.
    put(api_server, ns, "port", "3", "someone else")
    expect(value_cell(page, "port")).to_have_text("3")
    expect(notice).to_be_hidden()

    # A notice belongs to its tab.
    page.click('tr.key-row[data-key="port"] .edit-btn')
    page.fill('textarea.value-input[data-key="port"]', "4")
    page.click('tr.key-row[data-key="port"] .publish-btn')
    expect(notice).to_contain_text("Published port at r")
    page.click('button.tab[data-tab="history"]')
    expect(notice).to_be_hidden()

    # The whole-document editor's "Published at rN" goes the same way.
    page.click('button.tab[data-tab="json"]')
    page.click("#doc-reset")  # the editor was opened before the writes above
    page.fill("#doc-editor", '{"port": 5}')
    page.click("#doc-publish")
    expect(page.locator("#doc-result")).to_contain_text("Published at r")
    put(api_server, ns, "port", "6", "someone else again")
    expect(page.locator("#doc-result")).to_be_empty()


@pytest.mark.slow
def test_connection_errors_clear_once_reconnected(
    page: Page, page_origin: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = ConfigdProcess(
        tmp_path_factory.mktemp("errors-clear") / "data", "--cors-origin", page_origin
    )
    server.start()
    try:
        create(server, "svc/clear", port=1)
        open_console(page, page_origin, server, "svc/clear")
        server.stop()
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "reconnecting")
        page.click('tr.key-row[data-key="port"] .edit-btn')
        page.fill('textarea.value-input[data-key="port"]', "2")
        page.click('tr.key-row[data-key="port"] .publish-btn')
        error = page.locator("#ns-error")
        expect(error).to_contain_text(f"cannot reach configd at {server.http_url}")
        page.click("#ns-refresh")
        expect(page.locator("#ns-list-error")).to_contain_text("cannot reach configd")

        server.start()  # same ports and data
        # The console's own retry may reconnect first (the button then hides): either way
        # the page must end up live.
        with contextlib.suppress(PlaywrightTimeoutError):
            page.click("#reconnect-now", timeout=2_000)
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "live")
        expect(error).to_be_hidden()
        expect(page.locator("#ns-list-error")).to_be_hidden()
        # What the user typed is still there, and now publishes.
        page.click('tr.key-row[data-key="port"] .publish-btn')
        expect(value_cell(page, "port")).to_have_text("2")
    finally:
        server.stop()


# -- 14: live counts, a highlighted tab --------------------------------------------------------


def test_sidebar_counts_follow_other_clients_and_a_tab_is_active(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, f"{ns}/open", port=1)
    create(api_server, f"{ns}/other", port=1)
    open_console(page, page_origin, api_server, f"{ns}/open")
    expect(page.locator('button.tab[data-tab="document"]')).to_have_class("tab active")
    expect(page.locator('button.tab[data-tab="document"]')).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.locator(count_of(f"{ns}/open"))).to_have_text("1")

    put(api_server, f"{ns}/open", "name", '"a"', "another client")
    expect(value_cell(page, "name")).to_have_text('"a"')
    expect(page.locator(count_of(f"{ns}/open"))).to_have_text("2")
    # A namespace that is not open is kept current too.
    put(api_server, f"{ns}/other", "name", '"b"', "another client")
    expect(page.locator(count_of(f"{ns}/other"))).to_have_text("2")
    configctl(api_server, "delete", f"{ns}/other", "name", "-m", "gone")
    expect(page.locator(count_of(f"{ns}/other"))).to_have_text("1")
    # And a namespace created elsewhere appears.
    create(api_server, f"{ns}/new", port=1)
    expect(page.locator(f'.ns-item[data-ns="{ns}/new"]')).to_be_visible()


# -- 15: long values and schema lines ----------------------------------------------------------


def test_a_200kb_value_is_folded_and_long_schema_lines_fit(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    long_value = "x" * 200_000
    schema = {
        "type": "object",
        "description": "a schema line far wider than any screen: " + "y" * 3000,
        "properties": {"blob": {"type": "string"}},
    }
    create_with_schema(api_server, ns, schema, {"blob": long_value, "small": 1})
    put(api_server, ns, "blob", json.dumps(long_value + "z"), "longer")
    open_console(page, page_origin, api_server, ns)
    viewport_height = 900

    cell = value_cell(page, "blob")
    toggle = cell.locator("button.show-all")
    expect(toggle).to_contain_text("show all (200,003 characters)")
    expect(value_cell(page, "small")).to_have_text("1")
    assert len(cell.locator("code").inner_text()) < 1000
    assert page.evaluate("document.documentElement.scrollHeight") < 2 * viewport_height

    toggle.click()
    expect(toggle).to_have_text("show less")
    assert len(cell.locator("code").inner_text()) == 200_003
    # Shown whole, the value scrolls inside its own box instead of stretching the page.
    assert page.evaluate("document.documentElement.scrollHeight") < 2 * viewport_height
    toggle.click()
    expect(toggle).to_contain_text("show all")

    page.click('button.tab[data-tab="history"]')
    entry = page.locator(".history-entry", has_text="longer")
    expect(entry.locator("td.old button.show-all")).to_contain_text("200,002 characters")
    assert page.evaluate("document.documentElement.scrollHeight") < 2 * viewport_height

    page.click('button.tab[data-tab="schema"]')
    view = page.locator("#schema-view")
    expect(view).to_contain_text("yyyy")
    fits = "(el) => el.scrollWidth <= el.clientWidth + 1"
    assert view.evaluate(fits)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# -- 16: a network failure says what happened and what to do -----------------------------------


def test_an_origin_the_server_does_not_allow_is_named_with_the_flag_to_allow_it(
    page: Page, page_origin: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = ConfigdProcess(tmp_path_factory.mktemp("no-cors") / "data")
    server.start()
    try:
        open_console(page, page_origin, server)
        error = page.locator("#ns-list-error")
        expect(error).to_contain_text(f"configd at {server.http_url} answers")
        expect(error).to_contain_text(f"--cors-origin {page_origin}")
        expect(error).not_to_contain_text("Failed to fetch")
    finally:
        server.stop()


def test_a_server_that_is_not_running_is_named(page: Page, page_origin: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}"
    page.goto(f"{page_origin}/index.html?{urllib.parse.urlencode({'api': api})}")
    error = page.locator("#ns-list-error")
    expect(error).to_contain_text(f"cannot reach configd at {api}: is the server running")
    expect(error).not_to_contain_text("Failed to fetch")
    expect(error).not_to_contain_text("UNKNOWN")


# -- 17: the root leads to the console ---------------------------------------------------------


def test_the_root_redirects_to_the_console(shared_server: ConfigdProcess) -> None:
    # Plain HTTP (a sync client: this module's browser tests own the event loop).
    host, _, port = urllib.parse.urlsplit(shared_server.http_url).netloc.partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        assert response.status == 302
        assert response.getheader("Location") == "/ui/"
    finally:
        connection.close()
    with urllib.request.urlopen(shared_server.http_url + "/", timeout=10) as followed:
        assert followed.status == 200
        assert followed.url == shared_server.http_url + "/ui/"
        assert '<script type="module" src="console.js">' in followed.read().decode()
