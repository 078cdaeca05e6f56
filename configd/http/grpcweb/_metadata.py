"""HTTP headers <-> gRPC metadata, as a gRPC-Web proxy maps them.

Request headers become call metadata except HTTP's own and gRPC's reserved ones; `-bin`
values travel base64-encoded in HTTP and as bytes in gRPC.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Mapping

import grpc

from configd.http.grpcweb._framing import FramingError

MetadataValue = str | bytes
Metadata = tuple[tuple[str, MetadataValue], ...]
MetadataLike = Iterable[tuple[str, MetadataValue]]

# HTTP-level, browser-level and gRPC-reserved headers that are not call metadata.
_NOT_METADATA = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "access-control-request-headers",
        "access-control-request-method",
        "cache-control",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "cookie",
        "dnt",
        "forwarded",
        "host",
        "keep-alive",
        "origin",
        "pragma",
        "priority",
        "referer",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "via",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-grpc-web",
        "x-user-agent",
    }
)
_NOT_METADATA_PREFIXES = ("grpc-", "sec-", "proxy-", ":")
_VALID_KEY = re.compile(r"^[0-9a-z_.\-]+$")
# Response metadata that HTTP or gRPC-Web already express in their own way.
_RESERVED_RESPONSE = frozenset({"content-type", "grpc-status", "grpc-message"})


def request_metadata(headers: Mapping[str, str], peer: str | None) -> Metadata:
    """Call metadata from request headers; the browser's address goes in `x-forwarded-for`."""
    out: list[tuple[str, MetadataValue]] = []
    for raw_name, value in headers.items():
        name = raw_name.lower()
        if name in _NOT_METADATA or name.startswith(_NOT_METADATA_PREFIXES):
            continue
        if not _VALID_KEY.match(name):
            continue
        if name.endswith("-bin"):
            out.append((name, _decode_bin(name, value)))
        elif all(0x20 <= ord(ch) <= 0x7E for ch in value):
            out.append((name, value))
    if peer:
        out.append(("x-forwarded-for", peer))
    return tuple(out)


def response_headers(metadata: MetadataLike | None) -> list[tuple[str, str]]:
    """HTTP header lines for response metadata (initial metadata or trailers)."""
    out: list[tuple[str, str]] = []
    for name, value in metadata or ():
        key = name.lower()
        if key in _RESERVED_RESPONSE:
            continue
        if isinstance(value, bytes):
            text = binascii.b2a_base64(value, newline=False).decode("ascii")
        else:
            text = value
        out.append((key, text))
    return out


def _decode_bin(name: str, value: str) -> bytes:
    stripped = value.strip()
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        return binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error as exc:
        raise FramingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"configd: header {name} must be base64 (binary metadata): {exc}",
        ) from exc
