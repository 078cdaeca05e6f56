"""The one strict JSON reader and writer of configd: server, SDK and configctl all use it.

JSON travels as text so integers keep every digit; a number with a fraction or an exponent is
read as a double (1.10 is written back as 1.1). Refused: malformed text, NaN and Infinity, a
number beyond the range of a double (1e400, which would read as Infinity), an object with the
same key twice (which value would win differs between parsers), and nesting deeper than
MAX_JSON_DEPTH. Output is compact, keys in their given order, UTF-8 kept as is.
"""

from __future__ import annotations

import json
import math
from typing import Any

from configd_client.wire.limits import MAX_JSON_DEPTH

JSONValue = Any


class JSONTextError(ValueError):
    """Why a text is not JSON configd accepts; `str()` is the reason, for a person to read.

    `describe(subject)` says it about a named thing, e.g. "value_json is not valid JSON: ...".
    """

    def __init__(self, reason: str, *, too_deep: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_deep = too_deep

    def describe(self, subject: str) -> str:
        if self.too_deep:
            return f"{subject} is {self.reason}"
        return f"{subject} is not valid JSON: {self.reason}"


TOO_DEEP = f"nested too deeply (at most {MAX_JSON_DEPTH} levels)"


def duplicate_key(key: str) -> str:
    """The reason given for a repeated object key, in JSON and in YAML files alike."""
    return f"duplicate key {json.dumps(key, ensure_ascii=False)}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # rare: only then look for the repeated key
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(duplicate_key(key))
            seen.add(key)
    return result


def _number(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"the number {shown} is beyond the range of a double (about 1.8e308)")
    return value


_decoder = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_number, object_pairs_hook=_object
)
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str) -> JSONValue:
    """Parse JSON text strictly (see the module docstring); raises JSONTextError."""
    try:
        value = _decoder.decode(text)
    except RecursionError:
        raise JSONTextError(TOO_DEEP, too_deep=True) from None
    except json.JSONDecodeError as exc:
        raise JSONTextError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise JSONTextError(str(exc)) from None
    # A value cannot nest deeper than it has brackets; only walk the rare one that might.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and depth(value) > MAX_JSON_DEPTH:
        raise JSONTextError(TOO_DEEP, too_deep=True)
    return value


def dumps(value: JSONValue) -> str:
    """Compact JSON text (keys in their given order, UTF-8 kept); ValueError for NaN/Infinity."""
    return _encoder.encode(value)


def depth(value: JSONValue) -> int:
    """Nesting depth of containers (a scalar is 0), without recursion; stops past the limit.

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
            if deepest > MAX_JSON_DEPTH:
                break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest
