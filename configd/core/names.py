"""Namespace and key names (docs/architecture.md, "The data model"): their rules live here."""

from __future__ import annotations

import re

from configd.core.errors import InvalidArgument
from configd.core.limits import Limits
from configd_client.wire.names import key_problem

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


def check_key(key: str, limits: Limits, *, field: str = "key") -> str:
    """Return `key` if it is a valid key (configd_client.wire.names, the one rule)."""
    problem = key_problem(key, max_bytes=limits.max_key_bytes, field=field)
    if problem is not None:
        raise InvalidArgument(problem, field=field)
    return key
