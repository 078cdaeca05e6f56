"""Response metadata configd sends besides the messages, read by configctl (and any client)."""

from __future__ import annotations

from collections.abc import Iterable

AUTH_HEADER = "configd-auth"
"""Sent as `off` in the trailing metadata of every successful response of a server run with
--no-auth, so a client that sends a token, or creates one, can say that no token is checked."""

AUTH_OFF = "off"


def auth_is_off(metadata: Iterable[tuple[str, str | bytes]] | None) -> bool:
    """Whether a response's trailing metadata says the server checks no tokens."""
    return any(key == AUTH_HEADER and value == AUTH_OFF for key, value in metadata or ())
