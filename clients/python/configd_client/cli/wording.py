"""A server error in configctl's own terms: the one mapping from the server's request fields,
limits and missing namespaces to the CLI's words, verbs and `configd serve` flags.

The server's messages are written for every client: they name request fields (`value_json`)
and limits (`max_value_bytes`), never an interface's verbs. Its errors also carry those names
as structured details (BadRequest field violations, the limit and the field in ErrorInfo, the
missing namespace), and this module rewrites only what those details name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from configd_client.errors import (
    ConfigdError,
    InvalidArgument,
    LimitExceeded,
    NamespaceNotFound,
    NoRunningRelease,
    ReleaseRunning,
    ReplicaBehind,
    RevisionNotApplied,
)
from configd_client.wire.limits import serve_flag

# Request field -> what configctl calls it (its argument, file or flag).
FIELD_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "value_json": "the value",
        "document_json": "the document",
        "schema_json": "the schema",
        "message": "the message (-m)",
        "to_revision": "--to",
        "min_revision": "--min-revision",
        "request_id": "--request-id",
        "selectors": "--select",
        "percent": "--percent",
        "max_failures": "--max-failures",
        "bake_seconds": "--bake",
    }
)


def _fields_named(error: ConfigdError) -> set[str]:
    named = {v.path for v in error.violations} if isinstance(error, InvalidArgument) else set()
    if isinstance(error, LimitExceeded) and error.field:
        named.add(error.field)
    return {field for field in named if field in FIELD_WORDS}


def describe(error: ConfigdError) -> str:
    """The error's message (without the `configd:` prefix) as configctl shows it."""
    text = error.detail
    for field in sorted(_fields_named(error), key=len, reverse=True):
        text = re.sub(rf"(?<![\w.\[]){re.escape(field)}\b", FIELD_WORDS[field], text)
    if isinstance(error, LimitExceeded) and error.limit:
        flag = f"`configd serve {serve_flag(error.limit)}`"
        text = text.replace(f" ({error.limit})", "")
        if "raise the limit" in text:
            text = text.replace("raise the limit", f"raise the limit with {flag}", 1)
        else:
            text = f"{text} (the limit is {flag})"
    if isinstance(error, RevisionNotApplied) and error.field == "min_revision":
        # configctl sent it from --min-revision (CONFIGD_MIN_REVISION) or from what this
        # command saw (a write's reply): say which, in the CLI's terms.
        text = text.replace(
            "(min_revision)", "(--min-revision, or the highest revision this command saw)", 1
        )
    if isinstance(error, ReplicaBehind) and error.failures:
        highest = error.lowest_applied + 1
        text = text.replace(
            f"compact at revision {highest} or below",
            f"`configctl compact {highest}` is the most it allows now",
            1,
        )
    if isinstance(error, ReleaseRunning):
        text = text.replace(
            "promote or abort it first, or write with force to abort it",
            "end it with `configctl release promote|abort NAMESPACE`, or pass --force to "
            "abort it and write",
            1,
        )
    if isinstance(error, NoRunningRelease):
        text = text.replace("see its release status", "see `configctl release status`", 1)
    if isinstance(error, NamespaceNotFound) and error.namespace:
        verb = f"`configctl ns create {error.namespace}`"
        if text.endswith("create it first"):
            text = f"{text} with {verb}"
        else:
            text = f"{text}; create it with {verb}"
    return text
