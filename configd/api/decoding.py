"""Request decoding that cannot fail outside the error translation.

grpc answers UNKNOWN when a request deserializer raises, and a generic RESOURCE_EXHAUSTED
without the limit's name when a message is over its receive limit. So the deserializer never
raises: undecodable bytes (random bytes, invalid UTF-8 in a string field) or an oversized
message become a marker, and the method raises the domain error for it (INVALID_ARGUMENT,
or RESOURCE_EXHAUSTED naming max_request_bytes), which the one error table translates
(api.handlers calls `decoded` in its one frame per call, after the access checks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message

from configd.core.errors import ConfigdError, InvalidArgument, LimitExceeded


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What the deserializer returns instead of raising; `error` is what the call answers."""

    error: ConfigdError


def deserializer(parse: Callable[[bytes], Message], max_bytes: int) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        if len(data) > max_bytes:
            return Undecodable(
                LimitExceeded(
                    f"the request is {len(data)} bytes, over the limit of {max_bytes} bytes "
                    "(max_request_bytes); send less per call",
                    limit="max_request_bytes",
                    value=max_bytes,
                )
            )
        try:
            return parse(data)
        except (DecodeError, ValueError, RuntimeError) as exc:
            return Undecodable(
                InvalidArgument(
                    f"the request is not a valid protobuf message for this method ({exc}); "
                    "strings must be valid UTF-8",
                    field="request",
                )
            )

    return decode


def decoded(request: Any) -> Any:
    """The request, or the domain error its deserializer found (raised here, inside the
    error translation)."""
    if isinstance(request, Undecodable):
        raise request.error
    return request
