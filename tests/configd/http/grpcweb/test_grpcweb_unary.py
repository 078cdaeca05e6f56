"""gRPC-Web unary calls against a real configd: framing in both modes, status, error details."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2
from grpcweb_helpers import BINARY, Result, call, expect_ok, frame, parse_frames

from configd_client.wire import admin_pb2
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess

SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"port": {"type": "integer", "maximum": 65535}, "name": {"type": "string"}},
        "additionalProperties": False,
    }
)


async def create(http: aiohttp.ClientSession, url: str, ns: str) -> None:
    expect_ok(
        await call(
            http, url, "CreateNamespace", pb.CreateNamespaceRequest(name=ns, schema_json=SCHEMA)
        )
    )


async def test_unary_binary_round_trip(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    url = web_server.http_url
    await create(http, url, ns)
    put = await call(
        http, url, "Put", pb.PutRequest(namespace=ns, key="port", value_json="8080", message="m")
    )
    expect_ok(put)
    assert put.headers["Content-Type"] == BINARY
    # The test server runs with --no-auth, and every response says so (configd-auth: off).
    assert put.trailers == {"grpc-status": "0", "configd-auth": "off"}
    written = put.reply(pb.WriteResponse)
    got = await call(http, url, "GetNamespace", pb.GetNamespaceRequest(name=ns))
    expect_ok(got)
    view = got.reply(pb.GetNamespaceResponse)
    assert json.loads(view.document_json) == {"port": 8080}
    assert view.namespace.mod_revision == written.revision


async def test_plain_grpc_web_content_type_is_binary(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    result = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        content_type="application/grpc-web",
    )
    expect_ok(result)
    assert result.headers["Content-Type"] == BINARY


async def test_text_mode_request_and_response(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    url = web_server.http_url
    await create(http, url, ns)
    result = await call(
        http, url, "Put", pb.PutRequest(namespace=ns, key="name", value_json='"a"'), text=True
    )
    expect_ok(result)
    assert result.headers["Content-Type"] == "application/grpc-web-text+proto"
    base64.b64decode(result.raw_body, validate=True)  # one padded chunk: plain base64
    assert result.reply(pb.WriteResponse).changes[0].new_value_json == '"a"'


async def test_text_body_in_separately_padded_chunks(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    """A client may flush base64 chunks with their own padding; they are decoded in turn."""
    raw = frame(pb.ListNamespacesRequest(prefix=ns).SerializeToString())
    body = base64.b64encode(raw[:4]) + base64.b64encode(raw[4:])
    assert body.count(b"=") > 0
    result = await call(
        http, web_server.http_url, "ListNamespaces", body, content_type="application/grpc-web-text"
    )
    expect_ok(result)


async def test_accept_text_turns_the_response_to_text(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        headers={"accept": "application/grpc-web-text"},
    )
    expect_ok(result)
    assert result.headers["Content-Type"] == "application/grpc-web-text+proto"


async def test_schema_violation_is_trailers_only_with_details(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    url = web_server.http_url
    await create(http, url, ns)
    result = await call(
        http, url, "Put", pb.PutRequest(namespace=ns, key="port", value_json="80000")
    )
    assert result.http_status == 200
    assert result.trailers_only
    assert result.raw_body == b""
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert result.message.startswith("configd: ")
    [(path, keyword, description)] = result.violations()
    assert (path, keyword) == ("/port", "maximum")
    assert "65535" in description
    assert result.status.code == result.code


async def test_error_matches_native_grpc(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    """Same status, message (non-ASCII included, percent-decoded) and details as native gRPC."""
    request = pb.GetNamespaceRequest(name="no/such-näme")
    result = await call(http, web_server.http_url, "GetNamespace", request)
    async with grpc.aio.insecure_channel(web_server.grpc_addr) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as native:
            await pb_grpc.ConfigServiceStub(channel).GetNamespace(request)
    assert result.code == native.value.code().value[0]
    assert result.message == native.value.details()
    assert "%" in result.headers["grpc-message"] or result.message.isascii()
    native_details = dict(native.value.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert native_details is not None
    assert result.status.SerializeToString() == native_details


async def test_not_found(web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str) -> None:
    result = await call(http, web_server.http_url, "GetNamespace", pb.GetNamespaceRequest(name=ns))
    assert result.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert ns in result.message


async def test_admin_and_health_services(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    await create(http, web_server.http_url, ns)
    put = await call(
        http, web_server.http_url, "Put", pb.PutRequest(namespace=ns, key="port", value_json="1")
    )
    expect_ok(put)
    status = await call(
        http,
        web_server.http_url,
        "/configd.v1.AdminService/GetStatus",
        admin_pb2.GetStatusRequest(),
    )
    expect_ok(status)
    # The latest write's revision (the tests of a module run one at a time).
    assert (
        status.reply(admin_pb2.GetStatusResponse).revision == put.reply(pb.WriteResponse).revision
    )
    health = await call(
        http, web_server.http_url, "/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest()
    )
    expect_ok(health)
    assert (
        health.reply(health_pb2.HealthCheckResponse).status
        == health_pb2.HealthCheckResponse.SERVING
    )


@pytest.mark.parametrize("path", ["/configd.v1.ConfigService/NoSuchMethod", "/no.such.Service/Get"])
async def test_unknown_method_is_unimplemented(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, path: str
) -> None:
    result = await call(http, web_server.http_url, path, pb.GetRequest())
    assert result.trailers_only
    assert result.code == grpc.StatusCode.UNIMPLEMENTED.value[0]
    assert result.message == f"configd: unknown gRPC method {path}"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/grpc", "application/grpc-web+json", ""]
)
async def test_unsupported_content_type_is_415(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, content_type: str
) -> None:
    result = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        content_type=content_type,
    )
    assert result.http_status == 415
    assert b"unsupported content-type" in result.raw_body


async def test_get_is_not_allowed(web_server: ConfigdProcess, http: aiohttp.ClientSession) -> None:
    async with http.get(
        web_server.http_url + "/configd.v1.ConfigService/ListNamespaces"
    ) as response:
        assert response.status == 405


MALFORMED = [
    (b"", 3, "configd: gRPC-Web request body is empty: expected one length-prefixed message"),
    (
        b"\x00\x00\x00",
        3,
        "configd: gRPC-Web request body is 3 bytes, shorter than a frame header (5 bytes)",
    ),
    (
        frame(b"abc")[:-1],
        3,
        "configd: gRPC-Web frame announces 3 bytes but only 2 follow (truncated body)",
    ),
    (
        frame(b"") + frame(b""),
        3,
        "configd: gRPC-Web request has 5 bytes after its message: unary and server-streaming "
        "calls take exactly one message",
    ),
    (
        frame(b"", 0x80),
        3,
        "configd: gRPC-Web request starts with a trailer frame: expected a data frame",
    ),
    (
        frame(b"", 0x01),
        13,
        "configd: gRPC-Web request message is compressed, but configd accepts only uncompressed "
        "messages (use HTTP Content-Encoding instead)",
    ),
    (frame(b"", 0x02), 3, "configd: gRPC-Web frame flag 0x02 is not defined"),
]


@pytest.mark.parametrize(("body", "code", "message"), MALFORMED)
async def test_malformed_frames(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, body: bytes, code: int, message: str
) -> None:
    result = await call(http, web_server.http_url, "ListNamespaces", body)
    assert result.trailers_only
    assert (result.code, result.message) == (code, message)


async def test_malformed_text_body(web_server: ConfigdProcess, http: aiohttp.ClientSession) -> None:
    result = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        b"AAAA!AAA",
        content_type="application/grpc-web-text",
    )
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert result.message == "configd: gRPC-Web text body is not base64 (bad byte '!' at offset 4)"


async def test_undecodable_message_is_reported_by_the_server(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(http, web_server.http_url, "ListNamespaces", frame(b"\xff\xff\xff"))
    assert result.trailers_only
    assert result.code != 0


async def test_oversized_body_is_refused(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    big = frame(b"x" * (5 * 1024 * 1024))
    result = await call(http, web_server.http_url, "ListNamespaces", big)
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "exceeds the gRPC-Web limit" in result.message


async def test_oversized_chunked_body_is_refused(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    """Without Content-Length the body is still bounded while it streams in."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield b"\x00" * (1024 * 1024)

    async with http.post(
        web_server.http_url + "/configd.v1.ConfigService/ListNamespaces",
        data=chunks(),
        headers={"content-type": BINARY},
    ) as response:
        assert response.headers["grpc-status"] == "8"


async def test_bad_binary_metadata_is_invalid_argument(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        headers={"x-trace-bin": "%%%"},
    )
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert result.message.startswith("configd: header x-trace-bin must be base64")


def test_result_helper_reads_trailer_frames() -> None:
    body = frame(b"hi") + frame(b"grpc-status: 5\r\ngrpc-message: a%20b\r\n", 0x80)
    messages, trailers = parse_frames(body)
    result = Result(200, {}, messages, trailers, body)
    assert (result.messages, result.code, result.message) == ([b"hi"], 5, "a b")
