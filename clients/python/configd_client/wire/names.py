"""The rule for key names, defined once for the server, the SDK and configctl.

The server raises its error from `key_problem`; configctl's Consul import checks every
entry with it before planning, so a dry run refuses exactly what the import would.
"""

from __future__ import annotations

from configd_client.wire.limits import MAX_KEY_BYTES


def key_problem(key: str, *, max_bytes: int = MAX_KEY_BYTES, field: str = "key") -> str | None:
    """Why `key` is not a valid key (a message naming `field`), or None if it is valid:
    non-empty UTF-8, at most `max_bytes` bytes, no control characters."""
    if not key:
        return f"{field} is empty: a key needs at least one character"
    size = len(key.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        return f"{field} is {size} bytes; a key has at most {max_bytes}"
    for char in key:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000:
            return (
                f"{field} {key!r} contains the control character U+{code:04X}; "
                "keys cannot contain control characters"
            )
    return None
