"""Auth through gRPC-Web is the gRPC server's own: the bearer token is passed through."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import grpc
from grpcweb_helpers import ORIGIN, call, expect_ok

from configd_client.wire import config_pb2 as pb

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess


async def test_without_a_token_the_call_is_unauthenticated(
    auth_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(
        http,
        auth_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        headers={"Origin": ORIGIN},
    )
    assert result.trailers_only
    assert result.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert "bearer token" in result.message
    # The browser can read why: the status headers are exposed.
    assert result.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_a_wrong_token_is_unauthenticated(
    auth_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(
        http,
        auth_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        headers={"authorization": "Bearer not-a-real-token"},
    )
    assert result.code == grpc.StatusCode.UNAUTHENTICATED.value[0]


async def test_the_token_authenticates_and_names_the_author(
    auth_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    bearer = {"authorization": f"Bearer {auth_server.admin_token}"}
    url = auth_server.http_url
    expect_ok(
        await call(http, url, "CreateNamespace", pb.CreateNamespaceRequest(name=ns), headers=bearer)
    )
    expect_ok(
        await call(
            http, url, "Put", pb.PutRequest(namespace=ns, key="k", value_json="1"), headers=bearer
        )
    )
    history = await call(http, url, "History", pb.HistoryRequest(namespace=ns), headers=bearer)
    expect_ok(history)
    entries = history.reply(pb.HistoryResponse).entries
    assert entries[0].author == "admin"


async def test_watch_without_a_token_is_trailers_only(
    auth_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(http, auth_server.http_url, "Watch", pb.WatchRequest(prefixes=[""]))
    assert result.trailers_only
    assert result.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
