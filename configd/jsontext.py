"""JSON text in and out: exact integers, no NaN/Infinity, bounded nesting, canonical output."""

from __future__ import annotations

import json
from typing import Any

from configd.errors import InvalidArgument
from configd.model import JSONValue

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
    if depth(value) > MAX_DEPTH:
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
    """Nesting depth of containers (a scalar is 0), computed without recursion."""
    deepest = 0
    stack: list[tuple[JSONValue, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                return deepest
        stack.extend((child, level) for child in children)
    return deepest
