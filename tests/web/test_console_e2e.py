"""The console in real headless Chromium, served from another origin than the API (CORS)."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from web_helpers import configctl, require_browser

from configd.testing import ConfigdProcess

require_browser()  # skips the module locally without Chromium/Playwright; fails in CI
from console_pages import create, document, open_console, put, value_cell  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402


def test_lists_and_filters_namespaces(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, f"{ns}/alpha", port=1)
    create(api_server, f"{ns}/beta", port=2)
    open_console(page, page_origin, api_server)
    items = page.locator(f'.ns-item[data-ns^="{ns}/"]')
    expect(items).to_have_count(2)
    page.fill("#ns-filter", f"{ns}/be")
    expect(page.locator(".ns-item")).to_have_count(1)
    expect(page.locator(".ns-item")).to_have_attribute("data-ns", f"{ns}/beta")
    page.locator(".ns-item").click()
    expect(page.locator("#ns-title")).to_have_text(f"{ns}/beta")
    expect(value_cell(page, "port")).to_have_text("2")
    page.click('button.tab[data-tab="schema"]')
    expect(page.locator("#schema-view")).to_contain_text('"maximum": 65535')


def test_schema_violation_shows_next_to_the_field_then_publish(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, ns, port=8080, name="web")
    open_console(page, page_origin, api_server, ns)
    expect(value_cell(page, "port")).to_have_text("8080")

    page.click('tr.key-row[data-key="port"] .edit-btn')
    page.fill('textarea.value-input[data-key="port"]', "70000")
    page.click('tr.key-row[data-key="port"] .publish-btn')
    violation = page.locator('tr.key-row[data-key="port"] .violation')
    expect(violation).to_contain_text("65535")
    expect(violation).to_contain_text("maximum")
    expect(violation).to_have_attribute("data-path", "/port")
    # Nothing else is blamed: the other row has no violation.
    expect(page.locator('tr.key-row[data-key="name"] .violation')).to_have_count(0)

    page.fill("#publish-message", "move to 9090")
    page.fill('textarea.value-input[data-key="port"]', "9090")
    page.click('tr.key-row[data-key="port"] .publish-btn')
    expect(value_cell(page, "port")).to_have_text("9090")
    expect(page.locator('tr.key-row[data-key="port"] .violation')).to_have_count(0)
    expect(page.locator("#ns-error")).to_be_hidden()

    assert document(api_server, ns) == {"port": 9090, "name": "web"}
    page.click('button.tab[data-tab="history"]')
    entry = page.locator(".history-entry").first
    expect(entry).to_contain_text("move to 9090")
    expect(entry.locator('tr[data-key="port"] td.old')).to_have_text("8080")
    expect(entry.locator('tr[data-key="port"] td.new')).to_have_text("9090")


def test_whole_document_edit_reports_violations_by_path(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, ns, port=1)
    open_console(page, page_origin, api_server, ns)
    page.click('button.tab[data-tab="json"]')
    page.fill("#doc-editor", '{"port": 0, "nmae": "typo"}')
    page.click("#doc-check")
    violations = page.locator("#doc-violations .violation")
    expect(violations.first).to_be_visible()
    texts = " ".join(violations.all_inner_texts())
    assert "/port" in texts
    assert "minimum" in texts
    assert "additionalProperties" in texts
    page.fill("#doc-editor", '{"port": 2, "name": "fixed"}')
    page.click("#doc-publish")
    expect(page.locator("#doc-result")).to_contain_text("Published at r")
    page.click('button.tab[data-tab="document"]')
    expect(value_cell(page, "name")).to_have_text('"fixed"')


def test_change_from_configctl_appears_live(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, ns, port=8080)
    open_console(page, page_origin, api_server, ns)
    configctl(api_server, "put", ns, "port", "7070", "-m", "from configctl")
    expect(value_cell(page, "port")).to_have_text("7070")
    expect(page.locator("#live-log .live-item").first).to_contain_text("from configctl")
    # A new key appears as a new row, without reload.
    put(api_server, ns, "name", '"edge"', "add name")
    expect(value_cell(page, "name")).to_have_text('"edge"')


def test_rollback_from_history(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, ns, port=1000)
    put(api_server, ns, "port", "2000", "second")
    open_console(page, page_origin, api_server, ns)
    expect(value_cell(page, "port")).to_have_text("2000")
    page.click('button.tab[data-tab="history"]')
    seed = page.locator(".history-entry", has_text="seed")
    button = seed.locator(".rollback-btn")
    button.click()
    expect(button).to_contain_text("Confirm")
    button.click()
    page.click('button.tab[data-tab="document"]')
    expect(value_cell(page, "port")).to_have_text("1000")
    page.click('button.tab[data-tab="history"]')
    expect(page.locator(".history-entry").first).to_contain_text("rollback")


def test_token_is_sent_as_bearer_authorization(
    page: Page, page_origin: str, api_server: ConfigdProcess
) -> None:
    open_console(page, page_origin, api_server)
    page.fill("#token-input", "s3cret-token")
    with page.expect_request(lambda r: r.url.endswith("/ListNamespaces")) as info:
        page.click("#token-form button")
    assert info.value.all_headers().get("authorization") == "Bearer s3cret-token"


def test_with_auth_on_the_console_asks_for_a_token(
    page: Page, page_origin: str, auth_api_server: ConfigdProcess, ns: str
) -> None:
    token = auth_api_server.admin_token
    create(auth_api_server, ns, token=token, port=1)
    open_console(page, page_origin, auth_api_server)
    expect(page.locator("#ns-list-error")).to_contain_text("UNAUTHENTICATED")
    expect(page.locator("#ns-list-error")).to_contain_text("enter a token above")
    page.fill("#token-input", token)
    page.click("#token-form button")
    expect(page.locator("#ns-list-error")).to_be_hidden()
    page.locator(f'.ns-item[data-ns="{ns}"]').click()
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "live")
    page.click('tr.key-row[data-key="port"] .edit-btn')
    page.fill('textarea.value-input[data-key="port"]', "2")
    page.click('tr.key-row[data-key="port"] .publish-btn')
    expect(value_cell(page, "port")).to_have_text("2")
    page.click('button.tab[data-tab="history"]')
    expect(page.locator(".history-entry").first).to_contain_text("by admin")


def test_console_served_by_configd_talks_to_its_own_origin(
    page: Page, api_server: ConfigdProcess, ns: str
) -> None:
    create(api_server, ns, port=5)
    page.goto(f"{api_server.http_url}/ui/#/ns/{urllib.parse.quote(ns, safe='')}")
    expect(page.locator("#api-url")).to_have_text(api_server.http_url)
    expect(value_cell(page, "port")).to_have_text("5")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "live")


@pytest.mark.slow
def test_disconnect_is_shown_and_the_view_resumes(
    page: Page,
    page_origin: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = ConfigdProcess(
        tmp_path_factory.mktemp("restart") / "data", "--cors-origin", page_origin
    )
    server.start()
    try:
        create(server, "svc/restart", port=1)
        open_console(page, page_origin, server, "svc/restart")
        server.stop()
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#conn-status")).to_have_text("disconnected, reconnecting…")
        expect(page.locator("#banner")).to_be_visible()
        expect(page.locator("#banner")).to_contain_text(re.compile(r"resuming from r\d+"))
        server.start()  # same ports and data
        put(server, "svc/restart", "port", "2", "while reconnecting")
        expect(value_cell(page, "port")).to_have_text("2", timeout=20_000)
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "live")
        expect(page.locator("#banner")).to_be_hidden()
    finally:
        server.stop()
