"""Printing results: aligned tables for people, JSON and YAML for scripts (on stdout)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

import click
import yaml

from configd_client.wire import jsontext

# Tables and diffs are for people: a 200 KB value would make every row (or one line) 200 KB
# wide. They show the start of long text and say how much is left out; -o json and -o yaml
# always carry every value whole.
MAX_SHOWN_CHARS = 200
MAX_SHOWN_LINES = 60
WHOLE_HINT = "-o json shows it whole"


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text`, or its first `limit` characters and how many more there are."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters; {WHOLE_HINT})"


def shorten_lines(lines: Sequence[str], limit: int = MAX_SHOWN_LINES) -> list[str]:
    """The first `limit` lines, each shortened, and a last line saying how many more there are."""
    shown = [shorten(line) for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"... ({len(lines) - limit} more lines; {WHOLE_HINT})")
    return shown


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns aligned on the widest cell, two spaces apart; the last column is not padded."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # One row per record: embedded newlines would break the alignment.
    return shorten(text.replace("\n", "\\n"))


def counted(count: int, noun: str) -> str:
    """`1 namespace`, `2 namespaces`: a count with its noun (regular plurals only)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def emit(output: str, data: Any, human: Callable[[], str | None]) -> None:
    """Print `data` as JSON or YAML, or `human()` (a table or text) in table mode."""
    if output == "json":
        click.echo(to_json(data))
    elif output == "yaml":
        click.echo(to_yaml(data), nl=False)
    else:
        text = human()
        if text:
            click.echo(text)


def note(message: str) -> None:
    """Progress and confirmations for people go to stderr, keeping stdout for results."""
    click.echo(message, err=True)


def value(value_json: str) -> Any:
    """A JSON value from the server, parsed (integers stay exact)."""
    return jsontext.loads(value_json)


def compact(value_json: str) -> str:
    """A value as one line of JSON, for table cells."""
    return json.dumps(jsontext.loads(value_json), ensure_ascii=False, separators=(",", ":"))


def pretty(parsed: Any) -> str:
    return json.dumps(parsed, indent=2, ensure_ascii=False)


def timestamp(ts: Any) -> str:
    """A protobuf Timestamp as UTC ISO 8601 with seconds (`2025-01-31T09:30:00Z`)."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return ""
    moment = ts.ToDatetime(tzinfo=dt.UTC)
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def namespace_info(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "create_revision": info.create_revision,
        "mod_revision": info.mod_revision,
        "schema_version": info.schema_version,
        "key_count": info.key_count,
    }


def key_meta(meta: Any) -> dict[str, Any]:
    return {
        "create_revision": meta.create_revision,
        "mod_revision": meta.mod_revision,
        "version": meta.version,
    }
