"""Durations on the command line (`--expires-in 90d`, `--bake 10m`): the one parser."""

from __future__ import annotations

import re

import click

_DURATION = re.compile(r"(\d+)([smhdw]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | None, *, flag: str, example: str = "90d, 12h") -> int:
    """Seconds of `text` (a positive number with s, m, h, d or w); 0 if not given."""
    if not text:
        return 0
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise click.BadParameter(
            f"{text!r}: use a positive number with s, m, h, d or w (e.g. {example})",
            param_hint=flag,
        )
    return int(match.group(1)) * _SECONDS[match.group(2)]
