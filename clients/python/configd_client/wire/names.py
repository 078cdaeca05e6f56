"""The rules for namespace and key names, defined once for the server, the SDK and configctl.

The server raises its errors from these messages (configd.core.names); configctl's Consul
import checks every entry and every `--map` namespace with them before planning, so a dry run
refuses exactly what the import would.
"""

from __future__ import annotations

import re

from configd_client.wire.limits import MAX_KEY_BYTES, MAX_NAME_BYTES

# A segment: lowercase alphanumerics, with ._- allowed inside (not first or last).
_SEGMENT = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?"
_NAMESPACE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")


def namespace_problem(
    name: str, *, max_bytes: int = MAX_NAME_BYTES, field: str = "name"
) -> str | None:
    """Why `name` is not a valid namespace name (a message naming `field`), or None."""
    if not name:
        return f"{field} is empty: give a namespace name such as 'payments/prod'"
    size = len(name.encode())
    if size > max_bytes:
        return f"{field} is {size} bytes; a namespace name has at most {max_bytes}"
    if _NAMESPACE.fullmatch(name) is None or ".." in name:
        return (
            f"{field} {name!r} is not a valid namespace name: use lowercase letters and digits, "
            "'.', '_' and '-' inside a segment, '/' between segments, no empty segment or '..'"
        )
    return None


def key_problem(
    key: str, *, max_bytes: int = MAX_KEY_BYTES, field: str = "key", of: str = ""
) -> str | None:
    """Why `key` is not a valid key (a message naming `field`), or None if it is valid:
    non-empty UTF-8, at most `max_bytes` bytes, no control characters.

    `of` names the field that holds the key when the key is not a field of its own (a
    document's keys): messages then read "key 'x' of document_json" and name the key once."""
    subject = f"a key of {of}" if of else field
    named = f"key {key!r} of {of}" if of else f"{field} {key!r}"
    if not key:
        return f"{subject} is empty: a key needs at least one character"
    size = len(key.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        return f"{named if of else subject} is {size} bytes; a key has at most {max_bytes}"
    for char in key:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000:
            return (
                f"{named} contains the control character U+{code:04X}; "
                "keys cannot contain control characters"
            )
    return None
