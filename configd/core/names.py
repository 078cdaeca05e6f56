"""Namespace and key names (docs/architecture.md, "The data model"): their rules live here."""

from __future__ import annotations

import re

from configd.core.errors import InvalidArgument
from configd.core.limits import Limits

# A segment: lowercase alphanumerics, with ._- allowed inside (not first or last).
_SEGMENT = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?"
_NAMESPACE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX_CHARS = re.compile(r"[a-z0-9._/-]*")


def check_namespace(name: str, limits: Limits, *, field: str = "name") -> str:
    """Return `name` if it is a valid namespace name, else raise InvalidArgument."""
    if not name:
        raise InvalidArgument(
            f"{field} is empty: give a namespace name such as 'payments/prod'", field=field
        )
    size = len(name.encode())
    if size > limits.max_name_bytes:
        raise InvalidArgument(
            f"{field} is {size} bytes; a namespace name has at most {limits.max_name_bytes}",
            field=field,
        )
    if _NAMESPACE.fullmatch(name) is None or ".." in name:
        raise InvalidArgument(
            f"{field} {name!r} is not a valid namespace name: use lowercase letters and digits, "
            "'.', '_' and '-' inside a segment, '/' between segments, no empty segment or '..'",
            field=field,
        )
    return name


def check_prefix(prefix: str, limits: Limits, *, field: str = "prefix") -> str:
    """A namespace name prefix: any leading part of a valid name ("" selects all)."""
    if len(prefix.encode()) > limits.max_name_bytes or _PREFIX_CHARS.fullmatch(prefix) is None:
        raise InvalidArgument(
            f"{field} {prefix!r} cannot start a namespace name: use lowercase letters, digits "
            "and '._-/' only",
            field=field,
        )
    return prefix


def check_key(key: str, limits: Limits, *, field: str = "key", of: str = "") -> str:
    """Return `key` if it is a valid key: non-empty UTF-8, no control characters, bounded.

    `of` names the field that holds the key (a document's keys are not request fields of
    their own); messages then read "key 'x' of document_json" and name the key once."""
    field = of or field
    subject = f"a key of {of}" if of else field
    named = f"key {key!r} of {of}" if of else f"{field} {key!r}"
    if not key:
        raise InvalidArgument(
            f"{subject} is empty: a key needs at least one character", field=field
        )
    size = len(key.encode("utf-8", errors="surrogatepass"))
    if size > limits.max_key_bytes:
        raise InvalidArgument(
            f"{named if of else subject} is {size} bytes; a key has at most {limits.max_key_bytes}",
            field=field,
        )
    for char in key:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000:
            raise InvalidArgument(
                f"{named} contains the control character U+{code:04X}; "
                "keys cannot contain control characters",
                field=field,
            )
    return key
