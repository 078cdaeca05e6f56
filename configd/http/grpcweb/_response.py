"""Writing one gRPC-Web response: headers once, then frames, in binary or base64 text mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from aiohttp import web

from configd.http.grpcweb._framing import encode_grpc_message, encode_text
from configd.http.grpcweb._metadata import Metadata, MetadataLike, response_headers

if TYPE_CHECKING:
    from configd.http.grpcweb._cors import CorsPolicy

BINARY_RESPONSE_TYPE = "application/grpc-web+proto"
TEXT_RESPONSE_TYPE = "application/grpc-web-text+proto"


@dataclass(frozen=True, slots=True)
class Status:
    """A call's outcome: code, message and trailing metadata."""

    code: grpc.StatusCode
    message: str
    trailers: Metadata = ()


def status_lines(status: Status) -> list[tuple[str, str]]:
    """The status as header (trailers-only) or trailer-frame lines."""
    lines = [("grpc-status", str(status.code.value[0]))]
    if status.message:
        lines.append(("grpc-message", encode_grpc_message(status.message)))
    lines += response_headers(status.trailers)
    return lines


class Responder:
    """Writes one gRPC-Web response: headers once, then frames, in binary or text mode."""

    def __init__(self, request: web.Request, cors: CorsPolicy, text: bool) -> None:
        self.request = request
        self._cors = cors
        self._text = text
        self._response: web.StreamResponse | None = None

    def _base_headers(self, extra: list[tuple[str, str]]) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = TEXT_RESPONSE_TYPE if self._text else BINARY_RESPONSE_TYPE
        response.headers["Cache-Control"] = "no-store"
        for name, value in extra:
            response.headers.add(name, value)
        exposed = [name for name, _ in extra]
        response.headers.update(self._cors.response_headers(self.request, exposed))
        return response

    async def trailers_only(
        self, status: Status, initial: MetadataLike | None = None
    ) -> web.StreamResponse:
        """An immediate error: status in the HTTP headers and an empty body."""
        lines = response_headers(initial) + status_lines(status)
        response = self._base_headers(lines)
        response.content_length = 0
        await response.prepare(self.request)
        await response.write_eof()
        return response

    async def whole(self, initial: MetadataLike | None, data: bytes) -> web.StreamResponse:
        """A complete response known up front (unary): one write, with Content-Length."""
        response = self._base_headers(response_headers(initial))
        body = encode_text(data) if self._text else data
        response.content_length = len(body)
        await response.prepare(self.request)
        await response.write(body)
        await response.write_eof()
        return response

    async def start(self, initial: MetadataLike | None) -> None:
        response = self._base_headers(response_headers(initial))
        await response.prepare(self.request)
        self._response = response

    async def send(self, data: bytes) -> None:
        assert self._response is not None
        await self._response.write(encode_text(data) if self._text else data)

    async def finish(self) -> web.StreamResponse:
        assert self._response is not None
        await self._response.write_eof()
        return self._response
