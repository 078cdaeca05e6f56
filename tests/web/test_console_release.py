"""The console's Release tab in real headless Chromium: a real configd, real SDK clients (each
tests/configd/release_client.py in its own process, with a client id, labels and, where asked,
a check that vetoes a value), releases started as configctl does, ended with the page's buttons.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from web_helpers import require_browser

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2, config_pb2_grpc, release_pb2, release_pb2_grpc

require_browser()  # skips the module locally without Chromium/Playwright; fails in CI
from console_pages import create, document, open_console, value_cell  # noqa: E402
from playwright.sync_api import Locator, Page, expect  # noqa: E402

CLIENT = Path(__file__).resolve().parents[1] / "configd" / "release_client.py"
# The page polls for a release it did not see start every 5 s (a start reaches the slice only).
NOTICED_MS = 15_000


class Service:
    """One SDK client process; `docs` is every document its readers could see."""

    def __init__(
        self, addr: str, ns: str, client_id: str, label: str, refuse_above: str = ""
    ) -> None:
        command = [sys.executable, str(CLIENT), "--addr", addr, "--namespace", ns]
        command += ["--client-id", client_id, "--label", label]
        if refuse_above:
            command += ["--refuse-above", refuse_above]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.docs: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.docs.append(json.loads(line)["doc"])
                self._changed.notify_all()

    def wait(self, test: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (self.docs and test(self.docs[-1])):
                left = deadline - time.monotonic()
                assert left > 0, f"the client never showed it; saw {self.docs}"
                self._changed.wait(left)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


def start_release(server: ConfigdProcess, ns: str, port: int, message: str) -> int:
    """What `configctl release start` does: the new document for the zone=eu clients."""
    with grpc.insecure_channel(server.grpc_addr) as channel:
        reply = release_pb2_grpc.ReleaseServiceStub(channel).StartRelease(
            release_pb2.StartReleaseRequest(
                namespace=ns,
                document_json=json.dumps({"port": port}),
                selectors=[release_pb2.LabelSelector(label="zone", value="eu")],
                message=message,
            ),
            timeout=10,
        )
        return int(reply.revision)


def namespace_revision(server: ConfigdProcess, ns: str) -> int:
    with grpc.insecure_channel(server.grpc_addr) as channel:
        view = config_pb2_grpc.ConfigServiceStub(channel).GetNamespace(
            config_pb2.GetNamespaceRequest(name=ns), timeout=10
        )
        return int(view.namespace.mod_revision)


def count(page: Page, name: str) -> Locator:
    return page.locator(f'#release-tally [data-count="{name}"]')


def group(page: Page, label: str) -> Locator:
    return page.locator(f'#release-groups tr[data-label="{label}"]')


def confirm_click(page: Page, selector: str) -> None:
    """The release buttons ask once for confirmation, as Delete and Roll back do."""
    page.click(selector)
    expect(page.locator(selector)).to_contain_text("Confirm")
    page.click(selector)


def eu_and_us(server: ConfigdProcess, ns: str, services: list[Service]) -> tuple[Service, Service]:
    """The namespace (port 1) and one client in zone=eu, one in zone=us, both showing it."""
    create(server, ns, port=1)
    eu = Service(server.grpc_addr, ns, "svc-eu", "zone=eu")
    us = Service(server.grpc_addr, ns, "svc-us", "zone=us")
    services += [eu, us]
    eu.wait(lambda d: d == {"port": 1})
    us.wait(lambda d: d == {"port": 1})
    return eu, us


def test_release_panel_follows_a_release_then_promotes_and_aborts_with_its_buttons(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str, services: list[Service]
) -> None:
    eu, us = eu_and_us(api_server, ns, services)

    open_console(page, page_origin, api_server, ns)
    page.click('button.tab[data-tab="release"]')
    expect(page.locator("#release-none")).to_be_visible()

    # Started elsewhere: the page finds it by itself, and follows the slice's acks.
    first = start_release(api_server, ns, 2, "canary eu")
    eu.wait(lambda d: d == {"port": 2})
    panel = page.locator("#release-panel")
    expect(panel).to_have_attribute("data-state", "running", timeout=NOTICED_MS)
    expect(panel).to_have_attribute("data-release-id", str(first))
    expect(page.locator("button.tab.running")).to_have_text("Release (running)")
    # The page's Watch never sees the start (the slice's only); the page re-read the namespace.
    expect(page.locator("#ns-meta")).to_contain_text(f"namespace revision r{first} ")
    expect(page.locator("#release-message")).to_have_text("canary eu")
    expect(page.locator("#release-selectors")).to_have_text("zone=eu")
    expect(page.locator("#release-percent")).to_contain_text("100%")
    expect(page.locator("#release-max-failures")).to_contain_text("never aborts by itself")
    expect(page.locator("#release-bake")).to_contain_text("never promotes by itself")
    expect(count(page, "targeted")).to_have_attribute("data-value", "1")
    expect(count(page, "applied")).to_have_attribute("data-value", "1")
    expect(count(page, "pending")).to_have_attribute("data-value", "0")
    expect(page.locator("#release-tally")).to_contain_text("targeted 1 · applied 1")
    expect(group(page, "zone=eu")).to_have_attribute("data-applied", "1")
    expect(group(page, "zone=eu")).to_contain_text("1 applied")
    expect(group(page, "zone=us")).to_have_count(0)  # not in the slice
    expect(page.locator('#release-clients tr[data-client="svc-eu"]')).to_have_attribute(
        "data-outcome", "applied"
    )
    # The namespace's document has not changed: only the slice runs the staged one.
    page.click('button.tab[data-tab="document"]')
    expect(value_cell(page, "port")).to_have_text("1")
    assert us.docs[-1] == {"port": 1}

    page.click('button.tab[data-tab="release"]')
    page.fill("#publish-message", "eu looks good")
    confirm_click(page, "#release-promote")
    expect(panel).to_have_attribute("data-state", "promoted")
    expect(page.locator("#release-end")).to_contain_text("eu looks good")
    expect(page.locator("#release-end")).to_contain_text("promoted at r")
    expect(count(page, "applied")).to_have_attribute("data-value", "1")  # the final tally
    expect(page.locator("button.tab.running")).to_have_count(0)
    us.wait(lambda d: d == {"port": 2})
    assert document(api_server, ns) == {"port": 2}
    page.click('button.tab[data-tab="document"]')
    expect(value_cell(page, "port")).to_have_text("2")
    page.click('button.tab[data-tab="history"]')
    entries = page.locator(".history-entry")
    expect(entries.nth(0)).to_contain_text(f"release #{first} promoted")
    expect(entries.nth(0)).to_contain_text("eu looks good")
    expect(entries.nth(1)).to_contain_text(f"release #{first} started")
    expect(entries.nth(1)).to_contain_text("canary eu")
    expect(entries.nth(1).locator("thead")).to_contain_text("staged")

    # A second release, aborted with the button: the slice returns, the document stays.
    page.click('button.tab[data-tab="release"]')
    second = start_release(api_server, ns, 3, "try 3")
    eu.wait(lambda d: d == {"port": 3})
    expect(panel).to_have_attribute("data-release-id", str(second), timeout=NOTICED_MS)
    expect(count(page, "applied")).to_have_attribute("data-value", "1")
    page.fill("#publish-message", "not yet")
    confirm_click(page, "#release-abort")
    expect(panel).to_have_attribute("data-state", "aborted")
    expect(page.locator("#release-end")).to_contain_text("not yet")
    eu.wait(lambda d: d == {"port": 2})
    assert document(api_server, ns) == {"port": 2}
    aborted_at = namespace_revision(api_server, ns)
    assert aborted_at > second
    expect(page.locator("#ns-meta")).to_contain_text(f"namespace revision r{aborted_at} ")
    page.click('button.tab[data-tab="history"]')
    expect(entries.nth(0)).to_contain_text(f"release #{second} aborted")
    expect(entries.nth(0)).to_contain_text("For the release's slice only")


def test_release_panel_shows_why_a_client_rejected(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str, services: list[Service]
) -> None:
    create(api_server, ns, port=1)
    eu = Service(api_server.grpc_addr, ns, "svc-eu", "zone=eu")
    strict = Service(api_server.grpc_addr, ns, "svc-strict", "zone=eu", refuse_above="port=5")
    services += [eu, strict]
    eu.wait(lambda d: d == {"port": 1})
    strict.wait(lambda d: d == {"port": 1})
    open_console(page, page_origin, api_server, ns)
    page.click('button.tab[data-tab="release"]')
    expect(page.locator("#release-none")).to_be_visible()

    start_release(api_server, ns, 9, "too far")
    eu.wait(lambda d: d == {"port": 9})
    expect(count(page, "rejected")).to_have_attribute("data-value", "1", timeout=NOTICED_MS)
    expect(count(page, "applied")).to_have_attribute("data-value", "1")
    expect(group(page, "zone=eu")).to_contain_text("1 applied, 1 rejected")
    rejection = page.locator('#release-rejections li[data-client="svc-strict"]')
    expect(rejection).to_contain_text("port 9 is above 5")
    assert strict.docs[-1] == {"port": 1}  # the vetoed value never reached its readers

    # A write under the release is refused, as the page shows its other errors.
    page.click('button.tab[data-tab="document"]')
    page.click('tr.key-row[data-key="port"] .edit-btn')
    page.fill('textarea.value-input[data-key="port"]', "4")
    page.click('tr.key-row[data-key="port"] .publish-btn')
    expect(page.locator("#ns-error")).to_contain_text("FAILED_PRECONDITION")
    page.click('tr.key-row[data-key="port"] .cancel-btn')
    page.click('button.tab[data-tab="release"]')
    confirm_click(page, "#release-abort")
    expect(page.locator("#release-panel")).to_have_attribute("data-state", "aborted")
    expect(page.locator("#ns-error")).to_be_hidden()


def problems(page: Page) -> Locator:
    return page.locator("#start-problems li")


def fill_start_form(page: Page, **fields: str) -> None:
    """Type into the start form's fields by name (document, selectors, percent, ...)."""
    for name, text in fields.items():
        page.fill(f"#start-{name.replace('_', '-')}", text)


def test_a_release_started_from_the_console_reaches_its_slice_and_bad_input_starts_nothing(
    page: Page, page_origin: str, api_server: ConfigdProcess, ns: str, services: list[Service]
) -> None:
    eu, us = eu_and_us(api_server, ns, services)
    before = namespace_revision(api_server, ns)

    open_console(page, page_origin, api_server, ns)
    page.click('button.tab[data-tab="release"]')
    expect(page.locator("#release-none")).to_be_visible()
    page.click("#release-start summary")
    # The staged document starts from the current one.
    expect(page.locator("#start-document")).to_have_value('{\n  "port": 1\n}')

    # What the form can tell by itself, named in its own terms; nothing is sent.
    fill_start_form(
        page, document='{"port": ', selectors="zone", percent="150", max_failures="-1", bake="soon"
    )
    page.click("#start-release")
    expect(problems(page)).to_have_count(5)
    expect(problems(page).nth(0)).to_contain_text("Staged document: not valid JSON")
    expect(problems(page).nth(1)).to_have_text(
        'Selectors: "zone" is not label=value (e.g. zone=eu-west-1)'
    )
    expect(problems(page).nth(2)).to_have_text('Percent: "150" is not a whole number from 1 to 100')
    expect(problems(page).nth(3)).to_contain_text('Max failures: "-1" is not a whole number')
    expect(problems(page).nth(4)).to_contain_text('Bake: "soon" is not a duration such as 90s')
    expect(page.locator("#start-release")).to_have_text("Start release")

    # What only the server knows (the label rules, the schema), said in the form's terms.
    fill_start_form(
        page, document='{"port": 2}', selectors="Zone=eu", percent="", max_failures="", bake=""
    )
    confirm_click(page, "#start-release")
    expect(problems(page).nth(0)).to_contain_text("INVALID_ARGUMENT")
    expect(problems(page).nth(0)).to_contain_text("Selectors: label name 'Zone' is not valid")
    fill_start_form(page, selectors="zone=eu", document='{"port": 70000}')
    confirm_click(page, "#start-release")
    expect(problems(page).nth(0)).to_contain_text("INVALID_ARGUMENT")
    expect(page.locator("#start-problems")).to_contain_text("Staged document /port:")
    assert namespace_revision(api_server, ns) == before  # nothing was started

    fill_start_form(page, document='{"port": 2}', bake="1m")
    page.fill("#publish-message", "canary from the console")
    page.click("#start-release")
    expect(page.locator("#start-release")).to_have_text("Confirm: start for 100% of zone=eu")
    page.click("#start-release")
    panel = page.locator("#release-panel")
    expect(panel).to_have_attribute("data-state", "running")
    expect(page.locator("#ns-notice")).to_contain_text("Started release #")
    expect(page.locator("#release-message")).to_have_text("canary from the console")
    expect(page.locator("#release-selectors")).to_have_text("zone=eu")
    expect(page.locator("#release-bake")).to_contain_text("promotes by itself 60 s after")
    expect(page.locator("#release-start")).to_have_count(0)  # one release at a time
    eu.wait(lambda d: d == {"port": 2})
    expect(count(page, "applied")).to_have_attribute("data-value", "1")
    assert us.docs[-1] == {"port": 1}
    assert document(api_server, ns) == {"port": 1}
