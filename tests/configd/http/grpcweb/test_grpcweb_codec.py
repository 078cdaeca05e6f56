"""The gRPC-Web codec's pure parts: status message encoding, timeouts, text mode, metadata."""

from __future__ import annotations

import urllib.parse

import grpc
import pytest

import configd.http.console
import configd.http.grpcweb
from configd.http.grpcweb._framing import (
    FramingError,
    decode_text_body,
    encode_grpc_message,
    encode_text,
    encode_trailers,
    parse_timeout,
)
from configd.http.grpcweb._metadata import request_metadata, response_headers
from configd.http.grpcweb._methods import MethodKind, default_methods


@pytest.mark.parametrize(
    ("message", "encoded"),
    [
        ("plain text, spaces kept", "plain text, spaces kept"),
        ("100% sure", "100%25 sure"),
        ("näme", "n%C3%A4me"),
        ("line\nbreak", "line%0Abreak"),
    ],
)
def test_grpc_message_percent_encoding(message: str, encoded: str) -> None:
    assert encode_grpc_message(message) == encoded
    assert urllib.parse.unquote(encoded) == message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("300m", 0.3),
        ("5S", 5.0),
        ("2M", 120.0),
        ("1H", 3600.0),
        ("1500u", 0.0015),
        ("99999999n", 0.099999999),
    ],
)
def test_parse_timeout(value: str, seconds: float) -> None:
    assert parse_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "5", "S", "-1S", "123456789S", "1.5S", "5s"])
def test_parse_timeout_rejects(value: str) -> None:
    with pytest.raises(FramingError) as raised:
        parse_timeout(value)
    assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT


def test_text_chunks_round_trip() -> None:
    stream = encode_text(b"\x00\x00\x00\x00\x01a") + encode_text(
        encode_trailers([("grpc-status", "0")])
    )
    assert decode_text_body(stream) == b"\x00\x00\x00\x00\x01a" + encode_trailers(
        [("grpc-status", "0")]
    )
    assert decode_text_body(b"AA\nAA") == b"\x00\x00\x00"


def test_request_metadata_mapping() -> None:
    metadata = dict(
        request_metadata(
            {
                "Authorization": "Bearer x",
                "X-Custom": "v",
                "X-Bin-Bin": "AAE",
                "Content-Type": "application/grpc-web",
                "grpc-timeout": "1S",
                "Sec-Fetch-Mode": "cors",
                "X-Non-Ascii": "é",
                "Bad Key": "v",
            },
            "10.0.0.1",
        )
    )
    assert metadata == {
        "authorization": "Bearer x",
        "x-custom": "v",
        "x-bin-bin": b"\x00\x01",
        "x-forwarded-for": "10.0.0.1",
    }


def test_response_headers_encode_binary_and_drop_reserved() -> None:
    pairs = [("grpc-status", "0"), ("x-a", "1"), ("x-b-bin", b"\xff"), ("content-type", "x")]
    assert response_headers(pairs) == [("x-a", "1"), ("x-b-bin", "/w==")]


def test_method_kinds_come_from_the_descriptors() -> None:
    methods = default_methods()
    assert methods["/configd.v1.ConfigService/Put"].kind is MethodKind.UNARY
    assert methods["/configd.v1.ConfigService/Watch"].kind is MethodKind.SERVER_STREAMING
    assert methods["/configd.v1.AdminService/GetStatus"].kind is MethodKind.UNARY
    assert methods["/configd.v1.ReleaseService/GetRelease"].kind is MethodKind.UNARY
    assert methods["/grpc.health.v1.Health/Watch"].kind is MethodKind.SERVER_STREAMING


def test_public_surface() -> None:
    assert configd.http.grpcweb.__all__ == ["add_routes"]
    assert configd.http.console.__all__ == ["add_routes"]
