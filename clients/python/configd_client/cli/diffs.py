"""Per-key diffs of a namespace document, from the server's KeyChange list.

The server computes what changes (Apply dry_run, history); this module only presents it:
`+` added, `-` removed, `~` changed, with a line diff of pretty JSON for nested values.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from configd_client.cli.output import shorten_lines
from configd_client.wire import jsontext

INLINE_WIDTH = 70


@dataclass(frozen=True, slots=True)
class KeyDiff:
    """One key's change; `old`/`new` are JSON text, None where the key is absent."""

    key: str
    old: str | None
    new: str | None

    @property
    def op(self) -> str:
        if self.old is None:
            return "add"
        if self.new is None:
            return "remove"
        return "change"

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "op": self.op}
        if self.old is not None:
            data["old"] = jsontext.loads(self.old)
        if self.new is not None:
            data["new"] = jsontext.loads(self.new)
        return data


def from_changes(changes: Iterable[Any]) -> list[KeyDiff]:
    """KeyDiffs from proto KeyChanges, in key order, leaving out keys that did not change."""
    diffs = []
    for change in changes:
        old = change.old_value_json if change.HasField("old_value_json") else None
        new = change.new_value_json if change.HasField("new_value_json") else None
        if old is None and new is None:
            continue
        if old is not None and new is not None and jsontext.loads(old) == jsontext.loads(new):
            continue
        diffs.append(KeyDiff(change.key, old, new))
    return sorted(diffs, key=lambda d: d.key)


def summary(diffs: Sequence[KeyDiff]) -> str:
    counts = {op: sum(1 for d in diffs if d.op == op) for op in ("add", "change", "remove")}
    if not diffs:
        return "no changes"
    return f"{counts['add']} to add, {counts['change']} to change, {counts['remove']} to remove"


_STYLE = {"+": "green", "-": "red", "~": "yellow"}


def _styled(sign: str, text: str) -> str:
    return click.style(text, fg=_STYLE.get(sign))


def _pretty(value_json: str) -> list[str]:
    return json.dumps(jsontext.loads(value_json), indent=2, ensure_ascii=False).splitlines()


def _shown(value_json: str) -> list[str]:
    """A value's pretty lines as a diff shows them: long lines and long values shortened."""
    return shorten_lines(_pretty(value_json))


def _inline(value_json: str) -> str | None:
    text = json.dumps(jsontext.loads(value_json), ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= INLINE_WIDTH and "\n" not in text else None


def render(diffs: Sequence[KeyDiff]) -> list[str]:
    """Human lines for a diff (styled; click strips the colours when not on a terminal)."""
    lines: list[str] = []
    for diff in diffs:
        if diff.op in ("add", "remove"):
            sign = "+" if diff.op == "add" else "-"
            text = diff.new if diff.op == "add" else diff.old
            assert text is not None
            inline = _inline(text)
            if inline is not None:
                lines.append(_styled(sign, f"{sign} {diff.key}: {inline}"))
            else:
                lines.append(_styled(sign, f"{sign} {diff.key}:"))
                lines.extend(_styled(sign, f"{sign}   {line}") for line in _shown(text))
            continue
        assert diff.old is not None
        assert diff.new is not None
        lines.append(_styled("~", f"~ {diff.key}:"))
        old_inline, new_inline = _inline(diff.old), _inline(diff.new)
        if old_inline is not None and new_inline is not None:
            lines.append(_styled("-", f"-   {old_inline}"))
            lines.append(_styled("+", f"+   {new_inline}"))
            continue
        unified = difflib.unified_diff(_pretty(diff.old), _pretty(diff.new), lineterm="", n=3)
        for line in shorten_lines(list(unified)[2:]):  # drop the ---/+++ file headers
            if line.startswith("@@"):
                lines.append(click.style(f"    {line}", fg="cyan"))
            elif line.startswith("... ("):  # shorten_lines' note of what it left out
                lines.append(f"    {line}")
            else:
                sign, body = line[:1], line[1:]
                lines.append(_styled(sign, f"{sign}   {body}"))
    return lines
