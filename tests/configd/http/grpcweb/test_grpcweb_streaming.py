"""gRPC-Web server streaming (Watch): incremental delivery, text mode, deadline, disconnect."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from typing import TYPE_CHECKING

import aiohttp
import grpc
import grpc.aio
from grpcweb_helpers import BINARY, CONFIG, call, decode_text, frame, parse_frames

from configd_client.wire import admin_pb2, admin_pb2_grpc
from configd_client.wire import config_pb2 as pb
from configd_client.wire import config_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from configd.testing import ConfigdProcess


class FrameReader:
    """Reads gRPC-Web frames from a streaming response as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse, text: bool = False) -> None:
        self._response = response
        self._text = text
        self._buffer = b""
        self._pending_text = b""

    async def _more(self) -> None:
        chunk = await self._response.content.readany()
        if not chunk:
            raise EOFError("stream ended")
        if self._text:
            # Each flush is whole padded base64 chunks; decode whole 4-char groups.
            self._pending_text += chunk
            usable = len(self._pending_text) // 4 * 4
            self._buffer += decode_text(self._pending_text[:usable])
            self._pending_text = self._pending_text[usable:]
        else:
            self._buffer += chunk

    async def next(self) -> tuple[int, bytes]:
        while len(self._buffer) < 5:
            await self._more()
        flag, length = struct.unpack_from(">BI", self._buffer)
        while len(self._buffer) < 5 + length:
            await self._more()
        payload = self._buffer[5 : 5 + length]
        self._buffer = self._buffer[5 + length :]
        return flag, payload

    async def next_event(self) -> pb.WatchResponse:
        flag, payload = await self.next()
        assert flag == 0, f"expected a message, got trailers {payload!r}"
        return pb.WatchResponse.FromString(payload)


async def watch(
    http: aiohttp.ClientSession,
    url: str,
    request: pb.WatchRequest,
    *,
    text: bool = False,
    **headers: str,
) -> aiohttp.ClientResponse:
    body = frame(request.SerializeToString())
    sent = {"content-type": BINARY, **headers}
    if text:
        body = base64.b64encode(body)
        sent["content-type"] = "application/grpc-web-text"
    response = await http.post(url + CONFIG + "Watch", data=body, headers=sent)
    assert response.status == 200
    return response


async def put(stub: pb_grpc.ConfigServiceStub, ns: str, key: str, value: str) -> int:
    reply = await stub.Put(
        pb.PutRequest(namespace=ns, key=key, value_json=value, message="from native gRPC")
    )
    return int(reply.revision)


async def test_changes_arrive_one_by_one_while_the_stream_is_open(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    async with grpc.aio.insecure_channel(web_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        created = await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
        response = await watch(
            http,
            web_server.http_url,
            pb.WatchRequest(namespaces=[ns], start_revision=created.revision + 1),
        )
        reader = FrameReader(response)
        try:
            # Headers arrive before any event: the browser knows the stream is open.
            assert response.headers["Content-Type"] == BINARY
            for value in ("1", "2", "3"):
                started = time.monotonic()
                revision = await put(stub, ns, "k", value)
                event = await asyncio.wait_for(_next_change(reader), 5)
                assert (event.revision, event.changes[0].new_value_json) == (revision, value)
                # Flushed as produced, not when the stream ends (which it has not).
                assert time.monotonic() - started < 2
                assert not response.content.at_eof()
        finally:
            response.close()


async def _next_change(reader: FrameReader) -> pb.ChangeSet:
    while True:
        event = await reader.next_event()
        if event.WhichOneof("event") == "change_set":
            return event.change_set


async def test_text_mode_stream(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    async with grpc.aio.insecure_channel(web_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        created = await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
        response = await watch(
            http,
            web_server.http_url,
            pb.WatchRequest(namespaces=[ns], start_revision=created.revision + 1),
            text=True,
        )
        try:
            assert response.headers["Content-Type"] == "application/grpc-web-text+proto"
            reader = FrameReader(response, text=True)
            revision = await put(stub, ns, "k", '"v"')
            event = await asyncio.wait_for(_next_change(reader), 5)
            assert event.revision == revision
        finally:
            response.close()


async def test_snapshot_then_replay_from_start_revision(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    async with grpc.aio.insecure_channel(web_server.grpc_addr) as channel:
        stub = pb_grpc.ConfigServiceStub(channel)
        await stub.CreateNamespace(pb.CreateNamespaceRequest(name=ns))
        first = await put(stub, ns, "a", "1")
        second = await put(stub, ns, "b", "2")
    response = await watch(
        http, web_server.http_url, pb.WatchRequest(namespaces=[ns], start_revision=first)
    )
    try:
        reader = FrameReader(response)
        replayed = [await asyncio.wait_for(_next_change(reader), 5) for _ in range(2)]
        assert [c.revision for c in replayed] == [first, second]
    finally:
        response.close()


async def test_deadline_ends_the_stream_with_deadline_exceeded(
    web_server: ConfigdProcess, http: aiohttp.ClientSession, ns: str
) -> None:
    started = time.monotonic()
    async with http.post(
        web_server.http_url + CONFIG + "Watch",
        data=frame(pb.WatchRequest(namespaces=[ns]).SerializeToString()),
        headers={"content-type": BINARY, "grpc-timeout": "300m"},
    ) as response:
        body = await response.read()
    elapsed = time.monotonic() - started
    _, trailers = parse_frames(body)
    status = trailers if trailers is not None else response.headers
    assert status["grpc-status"] == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
    assert 0.25 < elapsed < 3


async def test_malformed_timeout(web_server: ConfigdProcess, http: aiohttp.ClientSession) -> None:
    result = await call(
        http,
        web_server.http_url,
        "ListNamespaces",
        pb.ListNamespacesRequest(),
        headers={"grpc-timeout": "soon"},
    )
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert result.message.startswith("configd: malformed grpc-timeout header 'soon'")


async def watcher_count(stub: admin_pb2_grpc.AdminServiceStub) -> int:
    status = await stub.GetStatus(admin_pb2.GetStatusRequest())
    return int(status.watcher_count)


async def wait_for_watchers(stub: admin_pb2_grpc.AdminServiceStub, expected: int) -> None:
    deadline = time.monotonic() + 5
    while (count := await watcher_count(stub)) != expected:
        assert time.monotonic() < deadline, f"{count} watchers, expected {expected}"
        await asyncio.sleep(0.05)


async def test_closing_the_connection_cancels_the_watch(
    configd_server: ConfigdProcess, ns: str
) -> None:
    """A fresh server, so no other test's streams are still winding down."""
    async with grpc.aio.insecure_channel(configd_server.grpc_addr) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        assert await watcher_count(admin) == 0
        async with aiohttp.ClientSession() as own:
            response = await watch(own, configd_server.http_url, pb.WatchRequest(namespaces=[ns]))
            await wait_for_watchers(admin, 1)
            response.close()  # drops the TCP connection, as a closed tab does
            started = time.monotonic()
        await wait_for_watchers(admin, 0)
        assert time.monotonic() - started < 2


async def test_upstream_error_in_a_stream_is_trailers_only(
    web_server: ConfigdProcess, http: aiohttp.ClientSession
) -> None:
    result = await call(
        http, web_server.http_url, "Watch", pb.WatchRequest(namespaces=["Bad Name"])
    )
    assert result.trailers_only
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
