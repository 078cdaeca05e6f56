"""Request decoding that cannot fail outside the error translation.

grpc answers UNKNOWN when a request deserializer raises, and a generic RESOURCE_EXHAUSTED
without the limit's name when a message is over its receive limit. So the deserializer never
raises: undecodable bytes (random bytes, invalid UTF-8 in a string field) or an oversized
message become a marker, and the method raises the domain error for it (INVALID_ARGUMENT,
or RESOURCE_EXHAUSTED naming max_request_bytes), which the one error table translates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message

from configd.api.method import Handler, behavior_of, with_behavior
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


def checked(handler: Handler, max_bytes: int) -> Handler:
    """`handler` with a deserializer that never raises, and the marker raised inside."""
    behavior = behavior_of(handler)

    # A plain function handing back the inner awaitable: no coroutine frame of its own, which
    # every open watch stream would otherwise hold. (The outermost layer is a coroutine.)
    def decoded(request: Any, context: Any) -> Awaitable[Any]:
        if isinstance(request, Undecodable):
            raise request.error
        return behavior(request, context)

    return with_behavior(
        handler, decoded, request_deserializer=deserializer(handler.request_deserializer, max_bytes)
    )
