"""Namespace and key names as InvalidArgument: the rules are configd_client.wire.names
(shared with configctl), the prefix rule lives here."""

from __future__ import annotations

import re

from configd.core.errors import InvalidArgument
from configd.core.limits import Limits
from configd_client.wire.names import key_problem, namespace_problem

_PREFIX_CHARS = re.compile(r"[a-z0-9._/-]*")


def check_namespace(name: str, limits: Limits, *, field: str = "name") -> str:
    """Return `name` if it is a valid namespace name (configd_client.wire.names)."""
    problem = namespace_problem(name, max_bytes=limits.max_name_bytes, field=field)
    if problem is not None:
        raise InvalidArgument(problem, field=field)
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
    """Return `key` if it is a valid key (configd_client.wire.names, the one rule); `of` names
    the field holding a key that is not a field of its own ("key 'x' of document_json")."""
    problem = key_problem(key, max_bytes=limits.max_key_bytes, field=field, of=of)
    if problem is not None:
        raise InvalidArgument(problem, field=of or field)
    return key
