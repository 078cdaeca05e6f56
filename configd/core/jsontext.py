"""JSON text in and out: exact integers, no NaN/Infinity, bounded nesting, canonical output."""

from __future__ import annotations

import json
from typing import Any

from configd.core.errors import InvalidArgument
from configd.core.model import JSONValue

MAX_DEPTH = 64


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str, *, field: str) -> JSONValue:
    """Parse JSON text; malformed, non-finite or too deeply nested input is INVALID_ARGUMENT."""
    try:
        value = _decoder.decode(text)
    except RecursionError:
        raise InvalidArgument(
            f"{field} is nested too deeply (at most {MAX_DEPTH} levels)", field=field
        ) from None
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        where = (
            f" at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise InvalidArgument(f"{field} is not valid JSON: {detail}{where}", field=field) from None
    # A value cannot nest deeper than it has brackets; only walk the rare one that might.
    if text.count("[") + text.count("{") > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise InvalidArgument(
            f"{field} is nested too deeply (at most {MAX_DEPTH} levels)", field=field
        )
    return value


def dumps(value: JSONValue) -> str:
    """Canonical compact JSON text (keys in their given order, UTF-8 kept as is)."""
    return _encoder.encode(value)


def dumps_key(key: str) -> str:
    return _encoder.encode(key)


def depth(value: JSONValue) -> int:
    """Nesting depth of containers (a scalar is 0), without recursion; stops past MAX_DEPTH.

    Only containers are visited (scalars are most of a document), so this costs a few
    microseconds for a typical value."""
    if not isinstance(value, dict | list):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest
