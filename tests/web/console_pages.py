"""The console's page helpers shared by the browser tests: seeding namespaces through native gRPC
and opening the console. Import after web_helpers.require_browser() (it needs Playwright)."""

from __future__ import annotations

import json
import urllib.parse

import grpc
from playwright.sync_api import Locator, Page, expect

from configd.testing import ConfigdProcess
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

SCHEMA = {
    "type": "object",
    "properties": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "name": {"type": "string"},
    },
    "required": ["port"],
    "additionalProperties": False,
}


def create(server: ConfigdProcess, ns: str, token: str = "", **values: object) -> int:
    """A namespace with SCHEMA and `values`, written through native gRPC; returns its revision."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with grpc.insecure_channel(server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        revision = stub.CreateNamespace(
            pb.CreateNamespaceRequest(name=ns, schema_json=json.dumps(SCHEMA)),
            timeout=10,
            metadata=metadata,
        ).revision
        if values:
            revision = stub.Apply(
                pb.ApplyRequest(namespace=ns, document_json=json.dumps(values), message="seed"),
                timeout=10,
                metadata=metadata,
            ).revision
        return int(revision)


def put(server: ConfigdProcess, ns: str, key: str, value: str, message: str) -> int:
    """A write through native gRPC (waits for the server if it is just starting)."""
    with grpc.insecure_channel(server.grpc_addr) as channel:
        reply = pb_grpc.ConfigServiceStub(channel).Put(
            pb.PutRequest(namespace=ns, key=key, value_json=value, message=message),
            timeout=10,
            wait_for_ready=True,
        )
        return int(reply.revision)


def document(server: ConfigdProcess, ns: str) -> dict[str, object]:
    with grpc.insecure_channel(server.grpc_addr) as channel:
        view = pb_grpc.ConfigServiceStub(channel).GetNamespace(
            pb.GetNamespaceRequest(name=ns), timeout=10
        )
        result: dict[str, object] = json.loads(view.document_json)
        return result


def open_console(page: Page, page_origin: str, server: ConfigdProcess, ns: str = "") -> None:
    query = urllib.parse.urlencode({"api": server.http_url})
    fragment = f"#/ns/{urllib.parse.quote(ns, safe='')}" if ns else ""
    page.goto(f"{page_origin}/index.html?{query}{fragment}")
    if ns:
        expect(page.locator("#ns-title")).to_have_text(ns)
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "live")


def value_cell(page: Page, key: str) -> Locator:
    return page.locator(f'tr.key-row[data-key="{key}"] td.value')
