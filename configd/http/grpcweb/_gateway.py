"""The gRPC-Web gateway: each HTTP call is forwarded as raw bytes to configd's own gRPC server.

Forwarding over loopback (as Envoy's grpc_web filter does) instead of calling servicers directly
means the server's interceptors (auth, limits, metrics) and validation apply unchanged. Messages
are never decoded here: generic calls without serializers carry the bytes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from aiohttp import web

from configd.http.grpcweb._cors import CorsPolicy
from configd.http.grpcweb._framing import (
    HEADER_LEN,
    FramingError,
    decode_request_message,
    decode_text_body,
    encode_frame,
    encode_trailers,
    parse_timeout,
)
from configd.http.grpcweb._metadata import (
    Metadata,
    MetadataLike,
    request_metadata,
)
from configd.http.grpcweb._methods import Method, MethodKind, default_methods
from configd.http.grpcweb._response import Responder, Status, status_lines

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
    from typing import TypeAlias

    _StreamCall: TypeAlias = "grpc.aio.UnaryStreamCall[bytes, bytes]"

log = logging.getLogger("configd.grpcweb")

# Request messages above this are refused before reaching the server (its own limits are
# lower or equal); responses may be larger (a whole document or a history page).
MAX_REQUEST_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_RESPONSE_MESSAGE_BYTES = 64 * 1024 * 1024
# A stream's HTTP headers wait this long for the server's own (an immediate error then still
# goes out as trailers-only); after it they go out anyway, so the browser knows the stream is
# open before the first event (a quiet Watch may send nothing for seconds).
HEADER_WAIT_SECONDS = 0.1
# How often an in-flight call checks that its browser is still connected.
DISCONNECT_POLL_SECONDS = 0.5

_BINARY_TYPES = frozenset({"application/grpc-web", "application/grpc-web+proto"})
_TEXT_TYPES = frozenset({"application/grpc-web-text", "application/grpc-web-text+proto"})


class Gateway:
    """Owns the loopback channel to the gRPC server and serves every gRPC-Web route."""

    def __init__(
        self,
        grpc_target: str,
        cors: CorsPolicy,
        methods: Mapping[str, Method] | None = None,
    ) -> None:
        self._target = grpc_target
        self._cors = cors
        self._methods = dict(methods if methods is not None else default_methods())
        self._channel: grpc.aio.Channel | None = None
        self._unary: dict[str, grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = {}
        self._streaming: dict[str, grpc.aio.UnaryStreamMultiCallable[bytes, bytes]] = {}
        self._streams: set[_StreamCall] = set()
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self._target,
                options=[
                    ("grpc.max_receive_message_length", MAX_RESPONSE_MESSAGE_BYTES),
                    ("grpc.max_send_message_length", MAX_REQUEST_MESSAGE_BYTES),
                    # Over loopback, BDP probing only adds a PING round per received burst.
                    ("grpc.http2.bdp_probe", 0),
                ],
            )

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._unary.clear()
        self._streaming.clear()
        if channel is not None:
            await channel.close(None)

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        await self.open()
        yield
        await self.close()

    async def shutdown(self, app: web.Application) -> None:
        """End open streams now, so the HTTP server's shutdown does not wait out a Watch."""
        self._closing = True
        for call in list(self._streams):
            call.cancel()

    def _require_channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            raise RuntimeError("configd: gRPC-Web gateway used before the HTTP app started")
        return self._channel

    # -- handlers --------------------------------------------------------------------------

    async def preflight(self, request: web.Request) -> web.StreamResponse:
        return self._cors.preflight(request)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        refusal = self._cors.check(request)
        if refusal is not None:
            return web.Response(status=403, text=refusal + "\n")
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in _BINARY_TYPES and content_type not in _TEXT_TYPES:
            return web.Response(
                status=415,
                text=(
                    f"configd: unsupported content-type {content_type or '(none)'!r}: gRPC-Web "
                    "calls use application/grpc-web, application/grpc-web+proto or "
                    "application/grpc-web-text\n"
                ),
                headers=self._cors.response_headers(request),
            )
        text_request = content_type in _TEXT_TYPES
        text_response = text_request or "application/grpc-web-text" in request.headers.get(
            "Accept", ""
        )
        responder = Responder(request, self._cors, text_response)
        try:
            method = self._method(request.path)
            body = await _read_body(request, text_request)
            message = decode_request_message(body, MAX_REQUEST_MESSAGE_BYTES)
            metadata = request_metadata(request.headers, request.remote)
            timeout_header = request.headers.get("grpc-timeout")
            timeout = parse_timeout(timeout_header) if timeout_header else None
        except FramingError as exc:
            return await responder.trailers_only(Status(exc.code, str(exc)))
        if method.kind is MethodKind.UNARY:
            return await self._unary_call(responder, method, message, metadata, timeout)
        return await self._streaming_call(responder, method, message, metadata, timeout)

    def _method(self, path: str) -> Method:
        method = self._methods.get(path)
        if method is None:
            raise FramingError(
                grpc.StatusCode.UNIMPLEMENTED, f"configd: unknown gRPC method {path}"
            )
        if method.kind in (MethodKind.CLIENT_STREAMING, MethodKind.BIDI_STREAMING):
            raise FramingError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"configd: {path} is {method.kind.value}; gRPC-Web supports unary and "
                "server-streaming calls only",
            )
        return method

    async def _unary_call(
        self,
        responder: Responder,
        method: Method,
        message: bytes,
        metadata: Metadata,
        deadline: float | None,
    ) -> web.StreamResponse:
        multicallable = self._unary.get(method.path)
        if multicallable is None:
            multicallable = self._require_channel().unary_unary(
                method.path, request_serializer=None, response_deserializer=None
            )
            self._unary[method.path] = multicallable
        call = multicallable(message, metadata=metadata, timeout=deadline)
        async with _cancel_on_disconnect(responder.request, call):
            try:
                reply: bytes = await call
            except grpc.aio.AioRpcError as exc:
                status = _error_status(exc)
                return await responder.trailers_only(status, exc.initial_metadata())
            initial = await call.initial_metadata()
            trailing = await call.trailing_metadata()
            ok = Status(grpc.StatusCode.OK, "", _trailers(trailing))
            return await responder.whole(
                initial, encode_frame(reply) + encode_trailers(status_lines(ok))
            )

    async def _streaming_call(
        self,
        responder: Responder,
        method: Method,
        message: bytes,
        metadata: Metadata,
        deadline: float | None,
    ) -> web.StreamResponse:
        multicallable = self._streaming.get(method.path)
        if multicallable is None:
            multicallable = self._require_channel().unary_stream(
                method.path, request_serializer=None, response_deserializer=None
            )
            self._streaming[method.path] = multicallable
        call = multicallable(message, metadata=metadata, timeout=deadline)
        self._streams.add(call)
        try:
            return await self._relay_stream(responder, call)
        finally:
            self._streams.discard(call)

    async def _relay_stream(self, responder: Responder, call: _StreamCall) -> web.StreamResponse:
        async with _cancel_on_disconnect(responder.request, call):
            initial = await _initial_metadata(call)
            if call.done():
                replies, status = await _drain(call)
                if not replies and status.code is not grpc.StatusCode.OK:
                    return await responder.trailers_only(status, initial)
                await responder.start(initial)
                for reply in replies:
                    await responder.send(encode_frame(reply))
                await responder.send(encode_trailers(status_lines(status)))
                return await responder.finish()
            await responder.start(initial)
            try:
                # A write to a closed connection raises, which ends (and cancels) the call.
                async for reply in call:
                    await responder.send(encode_frame(reply))
                status = await _final_status(call)
            except grpc.aio.AioRpcError as exc:
                status = _error_status(exc)
            except asyncio.CancelledError:
                # The call was cancelled here (shutdown or disconnect), unless this task is.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                status = Status(grpc.StatusCode.CANCELLED, "configd: call cancelled")
            if self._closing and status.code is grpc.StatusCode.CANCELLED:
                status = Status(
                    grpc.StatusCode.UNAVAILABLE,
                    "configd: the server is shutting down; reconnect and resume",
                )
            await responder.send(encode_trailers(status_lines(status)))
            return await responder.finish()


_GATEWAY_KEY: web.AppKey[Gateway] = web.AppKey("configd.http.grpcweb.gateway")


async def _read_body(request: web.Request, text: bool) -> bytes:
    """The whole request body, bounded so an oversized upload is refused while it streams."""
    limit = HEADER_LEN + MAX_REQUEST_MESSAGE_BYTES
    if text:
        limit = (limit + 2) // 3 * 4 + 64  # base64 expansion, some chunk padding
    if request.content_length is not None and request.content_length > limit:
        raise FramingError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"configd: request body of {request.content_length} bytes exceeds the gRPC-Web "
            f"limit of {limit} bytes",
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise FramingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"configd: request body exceeds the gRPC-Web limit of {limit} bytes",
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    return decode_text_body(body) if text else body


def _trailers(metadata: Iterable[Any] | None) -> Metadata:
    return tuple((str(key), value) for key, value in metadata or ())


def _error_status(exc: grpc.aio.AioRpcError) -> Status:
    return Status(exc.code(), exc.details() or "", _trailers(exc.trailing_metadata()))


async def _final_status(call: _StreamCall) -> Status:
    code = await call.code()
    details = await call.details()
    trailing = await call.trailing_metadata()
    return Status(code, details or "", _trailers(trailing))


async def _initial_metadata(call: _StreamCall) -> MetadataLike | None:
    """The server's initial metadata if it comes (or the call ends) within HEADER_WAIT_SECONDS.

    Metadata the server sends later than that is not forwarded (configd sends none).
    """
    waiter = asyncio.ensure_future(call.initial_metadata())
    done, _ = await asyncio.wait({waiter}, timeout=HEADER_WAIT_SECONDS)
    if done:
        result: MetadataLike = waiter.result()
        return result
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    return None


async def _drain(call: _StreamCall) -> tuple[list[bytes], Status]:
    replies: list[bytes] = []
    try:
        async for reply in call:
            replies.append(reply)
    except grpc.aio.AioRpcError as exc:
        return replies, _error_status(exc)
    return replies, await _final_status(call)


@contextlib.asynccontextmanager
async def _cancel_on_disconnect(request: web.Request, call: grpc.aio.Call) -> AsyncIterator[None]:
    """Cancel the upstream call when the browser goes away or the handler ends early.

    aiohttp does not cancel handlers on disconnect by default, so the transport is watched.
    """

    async def watch() -> None:
        while not call.done():
            transport = request.transport
            if transport is None or transport.is_closing():
                log.debug("client of %s went away; cancelling the call", request.path)
                call.cancel()
                return
            await asyncio.sleep(DISCONNECT_POLL_SECONDS)

    watcher = asyncio.create_task(watch(), name=f"grpcweb-disconnect {request.path}")
    try:
        yield
    finally:
        watcher.cancel()
        call.cancel()  # no-op once the call has finished
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def add_gateway_routes(
    app: web.Application, *, grpc_target: str, cors_origins: Sequence[str]
) -> Gateway:
    gateway = Gateway(grpc_target, CorsPolicy(cors_origins))
    app[_GATEWAY_KEY] = gateway
    app.cleanup_ctx.append(gateway.lifespan)
    app.on_shutdown.append(gateway.shutdown)
    # /package.Service/Method; the dot keeps other top-level paths (/ui/..., /metrics) apart.
    ident = r"[A-Za-z_][A-Za-z0-9_]*"
    path = rf"/{{service:{ident}(?:\.{ident})+}}/{{method:{ident}}}"
    app.router.add_route("POST", path, gateway.handle)
    app.router.add_route("OPTIONS", path, gateway.preflight)
    return gateway
