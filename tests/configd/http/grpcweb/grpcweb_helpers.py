"""A minimal gRPC-Web client over aiohttp for the protocol tests: frames, text mode, status."""

from __future__ import annotations

import base64
import io
import struct
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

BINARY = "application/grpc-web+proto"
TEXT = "application/grpc-web-text"
CONFIG = "/configd.v1.ConfigService/"
ORIGIN = "http://console.example.test:8080"


def frame(payload: bytes, flag: int = 0) -> bytes:
    return struct.pack(">BI", flag, len(payload)) + payload


def decode_text(body: bytes) -> bytes:
    """Base64 text mode: concatenated, separately padded chunks."""
    out = b""
    rest = body
    while rest:
        end = rest.find(b"=")
        if end == -1:
            chunk, rest = rest, b""
        else:
            while end < len(rest) and rest[end : end + 1] == b"=":
                end += 1
            chunk, rest = rest[:end], rest[end:]
        out += base64.b64decode(chunk)
    return out


def parse_frames(body: bytes) -> tuple[list[bytes], dict[str, str] | None]:
    """Data messages and the trailer block (None if the body has no trailer frame)."""
    messages: list[bytes] = []
    trailers: dict[str, str] | None = None
    pos = 0
    while pos < len(body):
        flag, length = struct.unpack_from(">BI", body, pos)
        payload = body[pos + 5 : pos + 5 + length]
        assert len(payload) == length, "truncated frame in response"
        pos += 5 + length
        if flag & 0x80:
            assert trailers is None, "two trailer frames"
            assert pos == len(body), "data after the trailer frame"
            trailers = {}
            for line in payload.decode("ascii").split("\r\n"):
                if line:
                    name, _, value = line.partition(":")
                    assert name == name.lower(), f"trailer name not lower-case: {name}"
                    trailers[name] = value.strip()
        else:
            assert flag == 0
            messages.append(payload)
    return messages, trailers


@dataclass
class Result:
    http_status: int
    headers: Mapping[str, str]
    messages: list[bytes]
    trailers: dict[str, str] | None
    raw_body: bytes = b""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def trailers_only(self) -> bool:
        return "grpc-status" in self.headers and not self.raw_body

    def _status_source(self) -> Mapping[str, str]:
        if self.trailers_only:
            return self.headers
        assert self.trailers is not None, "response has neither trailers nor a status header"
        return self.trailers

    @property
    def code(self) -> int:
        return int(self._status_source()["grpc-status"])

    @property
    def message(self) -> str:
        return urllib.parse.unquote(self._status_source().get("grpc-message", ""))

    @property
    def status(self) -> status_pb2.Status:
        raw = self._status_source()["grpc-status-details-bin"]
        return status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))

    def violations(self) -> list[tuple[str, str, str]]:
        out = []
        for detail in self.status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                out += [(v.field, v.reason, v.description) for v in bad.field_violations]
        return out

    def reply(self, cls: type[Any]) -> Any:
        assert len(self.messages) == 1, f"expected one message, got {len(self.messages)}"
        return cls.FromString(self.messages[0])


async def call(
    session: aiohttp.ClientSession,
    base_url: str,
    method: str,
    request: Message | bytes,
    *,
    text: bool = False,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
) -> Result:
    """One gRPC-Web call; `method` is "Put" (ConfigService) or a full "/pkg.Service/Method"."""
    path = method if method.startswith("/") else CONFIG + method
    payload = request if isinstance(request, bytes) else frame(request.SerializeToString())
    if text:
        payload = base64.b64encode(payload)
    if content_type is None:
        content_type = TEXT if text else BINARY
    sent = {"content-type": content_type, "x-grpc-web": "1"}
    sent.update(headers or {})
    data = io.BytesIO(payload) if len(payload) > 1024 * 1024 else payload
    async with session.post(base_url + path, data=data, headers=sent) as response:
        body = await response.read()
        result = Result(response.status, dict(response.headers), [], None, body)
        if response.status != 200 or not body:
            return result
        if response.headers["Content-Type"].startswith("application/grpc-web-text"):
            body = decode_text(body)
        result.messages, result.trailers = parse_frames(body)
        return result


def expect_ok(result: Result) -> None:
    assert result.http_status == 200
    if result.code != 0:
        pytest.fail(f"call failed: {result.code} {result.message}")
