"""JSON text in requests: the one strict reader (configd_client.wire.jsontext), as
INVALID_ARGUMENT naming the request field."""

from __future__ import annotations

from configd.core.errors import InvalidArgument
from configd.core.model import JSONValue
from configd_client.wire import jsontext as wire
from configd_client.wire.jsontext import JSONTextError, depth, dumps
from configd_client.wire.limits import MAX_JSON_DEPTH as MAX_DEPTH

__all__ = ["MAX_DEPTH", "depth", "dumps", "dumps_key", "loads"]


def loads(text: str, *, field: str) -> JSONValue:
    """Parse JSON text; malformed, non-finite, duplicate-key or too deeply nested input is
    INVALID_ARGUMENT naming `field`."""
    try:
        return wire.loads(text)
    except JSONTextError as exc:
        raise InvalidArgument(exc.describe(field), field=field) from None


def dumps_key(key: str) -> str:
    return dumps(key)
