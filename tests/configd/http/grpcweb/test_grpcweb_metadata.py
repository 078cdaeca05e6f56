"""Metadata through the gateway: request headers in, initial metadata and trailers out.

configd itself echoes no metadata, so these run the gateway in-process in front of a small
real grpc.aio server whose handler reports what it received and sends metadata back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import aiohttp
import grpc
import grpc.aio
import pytest
from aiohttp import web
from grpcweb_helpers import ORIGIN, call, expect_ok

from configd.http import grpcweb
from configd_client.wire import config_pb2 as pb

GET = "/configd.v1.ConfigService/Get"


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    received = {
        key: (base64.b64encode(value).decode() if isinstance(value, bytes) else value)
        for key, value in context.invocation_metadata()
    }
    await context.send_initial_metadata((("x-initial", "hello"),))
    context.set_trailing_metadata((("x-trailer", "bye"), ("x-blob-bin", b"\x00\xff")))
    reply = pb.GetResponse(value_json=json.dumps(received))
    reply.meta.key = pb.GetRequest.FromString(request).key
    return reply.SerializeToString()


@pytest.fixture
async def gateway_url() -> AsyncIterator[str]:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "configd.v1.ConfigService", {"Get": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    app = web.Application()
    grpcweb.add_routes(app, grpc_target=f"127.0.0.1:{port}", cors_origins=[ORIGIN])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await server.stop(None)


async def test_request_headers_become_metadata(
    gateway_url: str, http: aiohttp.ClientSession
) -> None:
    result = await call(
        http,
        gateway_url,
        GET,
        pb.GetRequest(key="k"),
        headers={
            "authorization": "Bearer t0ken",
            "x-request-id": "abc",
            "x-trace-bin": base64.b64encode(b"\x01\x02").decode().rstrip("="),
            "cookie": "session=secret",
            "Origin": ORIGIN,
        },
    )
    expect_ok(result)
    received = json.loads(result.reply(pb.GetResponse).value_json)
    assert received["authorization"] == "Bearer t0ken"
    assert received["x-request-id"] == "abc"
    assert base64.b64decode(received["x-trace-bin"]) == b"\x01\x02"
    assert received["x-forwarded-for"] == "127.0.0.1"
    # HTTP's and the browser's own headers are not call metadata (grpc sets its content-type).
    for name in ("cookie", "origin", "x-grpc-web", "host", "accept-encoding"):
        assert name not in received
    assert received.get("content-type", "application/grpc").startswith("application/grpc")


async def test_server_metadata_reaches_the_browser(
    gateway_url: str, http: aiohttp.ClientSession
) -> None:
    result = await call(http, gateway_url, GET, pb.GetRequest(key="k"), headers={"Origin": ORIGIN})
    expect_ok(result)
    assert result.headers["x-initial"] == "hello"
    assert "x-initial" in result.headers["Access-Control-Expose-Headers"]
    assert result.trailers is not None
    assert result.trailers["x-trailer"] == "bye"
    assert base64.b64decode(result.trailers["x-blob-bin"]) == b"\x00\xff"


async def test_unreachable_upstream_is_unavailable(http: aiohttp.ClientSession) -> None:
    app = web.Application()
    grpcweb.add_routes(app, grpc_target="127.0.0.1:9", cors_origins=[])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        result = await call(http, url, GET, pb.GetRequest(key="k"))
        assert result.trailers_only
        assert result.code == grpc.StatusCode.UNAVAILABLE.value[0]
    finally:
        await runner.cleanup()
