"""gRPC-Web wire format: frames, trailer blocks, text (base64) mode, grpc-timeout, grpc-message.

A frame is 1 flag byte (0x00 data, 0x80 trailers; bit 0 = compressed) and a 4-byte big-endian
length, then the payload. Text mode is base64 of the same byte stream; each flushed chunk is
padded on its own, so a decoder must accept padding between chunks.
"""

from __future__ import annotations

import binascii
import re
import struct
from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    from collections.abc import Iterable

DATA_FLAG = 0x00
TRAILER_FLAG = 0x80
COMPRESSED_BIT = 0x01
HEADER_LEN = 5

_HEADER = struct.Struct(">BI")
_TIMEOUT = re.compile(r"^([0-9]{1,8})([HMSmun])$")
_TIMEOUT_UNIT_SECONDS = {
    "H": 3600.0,
    "M": 60.0,
    "S": 1.0,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
}
# A base64 chunk: the alphabet, then the padding that ends the chunk (or the end of the body).
_B64_CHUNK = re.compile(rb"[A-Za-z0-9+/]+={0,2}|=+")
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/=]")


class FramingError(Exception):
    """The request body is not a valid gRPC-Web message stream; `code` is the status to send."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def encode_frame(payload: bytes, flag: int = DATA_FLAG) -> bytes:
    return _HEADER.pack(flag, len(payload)) + payload


def encode_trailers(pairs: Iterable[tuple[str, str]]) -> bytes:
    """The trailer frame: HTTP/1-style `name: value\\r\\n` lines, names lower-case."""
    block = "".join(f"{name.lower()}: {value}\r\n" for name, value in pairs)
    return encode_frame(block.encode("ascii"), TRAILER_FLAG)


def decode_request_message(body: bytes, max_message_bytes: int) -> bytes:
    """The one request message of a unary or server-streaming call.

    Browsers cannot stream a request body, so exactly one uncompressed data frame is expected.
    """
    if not body:
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "configd: gRPC-Web request body is empty: expected one length-prefixed message",
        )
    if len(body) < HEADER_LEN:
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"configd: gRPC-Web request body is {len(body)} bytes, shorter than a frame header "
            f"({HEADER_LEN} bytes)",
        )
    flag, length = _HEADER.unpack_from(body)
    if flag & TRAILER_FLAG:
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "configd: gRPC-Web request starts with a trailer frame: expected a data frame",
        )
    if flag & COMPRESSED_BIT:
        raise FramingError(
            grpc.StatusCode.INTERNAL,
            "configd: gRPC-Web request message is compressed, but configd accepts only "
            "uncompressed messages (use HTTP Content-Encoding instead)",
        )
    if flag != DATA_FLAG:
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"configd: gRPC-Web frame flag 0x{flag:02x} is not defined",
        )
    if length > max_message_bytes:
        raise FramingError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"configd: request message of {length} bytes exceeds the limit of "
            f"{max_message_bytes} bytes",
        )
    end = HEADER_LEN + length
    if len(body) < end:
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"configd: gRPC-Web frame announces {length} bytes but only "
            f"{len(body) - HEADER_LEN} follow (truncated body)",
        )
    if len(body) > end:
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"configd: gRPC-Web request has {len(body) - end} bytes after its message: "
            "unary and server-streaming calls take exactly one message",
        )
    return body[HEADER_LEN:end]


def decode_text_body(text: bytes) -> bytes:
    """Base64 text mode: concatenated chunks, each possibly padded; whitespace is ignored."""
    compact = re.sub(rb"\s+", b"", text)
    bad = _NOT_B64.search(compact)
    if bad is not None:
        byte = bad.group().decode("latin-1")
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"configd: gRPC-Web text body is not base64 (bad byte {byte!r} at offset "
            f"{bad.start()})",
        )
    out = bytearray()
    for chunk in _B64_CHUNK.findall(compact):
        try:
            out += binascii.a2b_base64(chunk, strict_mode=True)
        except binascii.Error as exc:
            raise FramingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"configd: gRPC-Web text body is not valid base64: {exc}",
            ) from exc
    return bytes(out)


def encode_text(data: bytes) -> bytes:
    """One padded base64 chunk; flushed atomically so a client can decode it on arrival."""
    return binascii.b2a_base64(data, newline=False)


def parse_timeout(value: str) -> float:
    """Seconds from a `grpc-timeout` header value such as `300m` or `5S`."""
    match = _TIMEOUT.match(value.strip())
    if match is None:
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"configd: malformed grpc-timeout header {value!r}: expected 1-8 digits and a unit "
            "(H, M, S, m, u, n)",
        )
    return int(match.group(1)) * _TIMEOUT_UNIT_SECONDS[match.group(2)]


def encode_grpc_message(message: str) -> str:
    """Percent-encode a status message as gRPC requires: bytes outside 0x20-0x7E, and `%`."""
    out: list[str] = []
    for byte in message.encode("utf-8"):
        if 0x20 <= byte <= 0x7E and byte != 0x25:
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)
