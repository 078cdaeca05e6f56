"""CORS for gRPC-Web: preflight echoes the exact allowed origin; status headers are exposed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest
from grpcweb_helpers import CONFIG, ORIGIN, call

from configd_client.wire import config_pb2 as pb

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess

REQUESTED = "content-type,x-grpc-web,x-user-agent,grpc-timeout,authorization,x-request-id"


async def preflight(http: aiohttp.ClientSession, url: str, origin: str) -> aiohttp.ClientResponse:
    async with http.options(
        url + CONFIG + "Put",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": REQUESTED,
        },
    ) as response:
        await response.read()
        return response


async def test_preflight_for_an_allowed_origin(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    response = await preflight(http, web_server.http_url, ORIGIN)
    assert response.status == 204
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    allowed = {h.strip() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert set(REQUESTED.split(",")) <= allowed
    assert "Origin" in headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in headers


@pytest.mark.parametrize("origin", ["http://evil.example.test", "http://console.example.test:8081"])
async def test_preflight_for_another_origin_is_refused(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, origin: str
) -> None:
    response = await preflight(http, web_server.http_url, origin)
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_responses_expose_the_status_headers(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    ok = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        headers={"Origin": ORIGIN},
    )
    failed = await call(
        http,
        web_server.http_url,
        "GetNamespace",
        pb.GetNamespaceRequest(name=ns),
        headers={"Origin": ORIGIN},
    )
    assert failed.trailers_only
    for result in (ok, failed):
        assert result.headers["Access-Control-Allow-Origin"] == ORIGIN
        exposed = {h.strip() for h in result.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"grpc-status", "grpc-message", "grpc-status-details-bin"} <= exposed


async def test_post_from_another_origin_is_refused(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        headers={"Origin": "http://evil.example.test"},
    )
    assert result.http_status == 403
    assert b"--cors-origin http://evil.example.test" in result.raw_body


async def test_same_origin_needs_no_cors(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        headers={"Origin": web_server.http_url},
    )
    assert result.code == 0
    assert "Access-Control-Allow-Origin" not in result.headers


async def test_no_origin_allowed_by_default(
    configd_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    response = await preflight(http, configd_server.http_url, ORIGIN)
    assert response.status == 403
