"""Client ids and labels, the rules defined once for the server, the SDK and configctl.

A client introduces itself on its Watch with an id and labels (`service=payments`,
`zone=eu-west-1`); releases select clients by labels. The SDK checks what the application
gives it with these rules before it connects, configctl checks `--select`, and the server
refuses the same things with the same messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_LABELS = 32
MAX_LABEL_KEY_BYTES = 63
MAX_LABEL_VALUE_BYTES = 256
MAX_CLIENT_ID_BYTES = 128

_LABEL_KEY = re.compile(r"[a-z0-9][a-z0-9._/-]*")
_CLIENT_ID = re.compile(r"[\x21-\x7e]+")


def label_key_problem(key: str, *, field: str = "labels") -> str | None:
    """Why `key` is not a valid label name (a message naming `field`), or None."""
    if not key:
        return f"{field} has an empty label name: use e.g. zone=eu-west-1"
    if len(key.encode()) > MAX_LABEL_KEY_BYTES:
        return f"{field}: label name {key[:40]!r}... is longer than {MAX_LABEL_KEY_BYTES} bytes"
    if _LABEL_KEY.fullmatch(key) is None:
        return (
            f"{field}: label name {key!r} is not valid: use lowercase letters, digits and "
            "'._/-', starting with a letter or digit"
        )
    return None


def label_value_problem(key: str, value: str, *, field: str = "labels") -> str | None:
    """Why `value` is not a valid value of label `key`, or None."""
    if len(value.encode("utf-8", errors="surrogatepass")) > MAX_LABEL_VALUE_BYTES:
        return f"{field}: the value of label {key!r} is longer than {MAX_LABEL_VALUE_BYTES} bytes"
    for char in value:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000:
            return (
                f"{field}: the value of label {key!r} contains the control character U+{code:04X}"
            )
    return None


def labels_problem(labels: Mapping[str, str], *, field: str = "labels") -> str | None:
    """Why `labels` is not a valid label set, or None."""
    if len(labels) > MAX_LABELS:
        return f"{field} has {len(labels)} labels; a client has at most {MAX_LABELS}"
    for key, value in labels.items():
        problem = label_key_problem(key, field=field) or label_value_problem(
            key, value, field=field
        )
        if problem:
            return problem
    return None


def client_id_problem(client_id: str, *, field: str = "client_id") -> str | None:
    """Why `client_id` is not a valid client id, or None: 1-128 printable ASCII characters."""
    if not client_id:
        return f"{field} is empty: give a name stable for the process, such as host-pid"
    if len(client_id) > MAX_CLIENT_ID_BYTES or _CLIENT_ID.fullmatch(client_id) is None:
        return f"{field} must be 1-{MAX_CLIENT_ID_BYTES} printable ASCII characters without spaces"
    return None


def parse_labels(text: str, *, field: str = "CONFIGD_LABELS") -> dict[str, str]:
    """`k=v,k=v` (spaces around items ignored) as labels; ValueError naming `field` if it is
    malformed. An empty text is no labels."""
    labels: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"{field}: {item!r} is not label=value (e.g. zone=eu-west-1)")
        if key in labels:
            raise ValueError(f"{field}: label {key!r} is given twice")
        labels[key] = value.strip()
    problem = labels_problem(labels, field=field)
    if problem:
        raise ValueError(problem)
    return labels
