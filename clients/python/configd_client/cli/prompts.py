"""Asking a person before a change: --yes, or a terminal's answer."""

from __future__ import annotations

import sys

import click

from configd_client.cli.exits import CliFailure, ExitCode


def confirm(
    question: str,
    *,
    yes: bool,
    action: str = "write",
    unchanged: str = "nothing was written",
) -> None:
    """Go on only if --yes was given or a person at a terminal answers yes; otherwise fail
    (exit 9) naming what was not done (`action`) or what stays as it was (`unchanged`)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliFailure(
            f"refusing to {action} without confirmation: stdin is not a terminal; "
            "pass --yes to confirm non-interactively",
            code=ExitCode.ABORTED,
        )
    try:
        accepted = click.confirm(question, default=False, err=True)
    except click.Abort as exc:
        raise CliFailure(f"aborted; {unchanged}", code=ExitCode.ABORTED) from exc
    if not accepted:
        raise CliFailure(f"aborted; {unchanged}", code=ExitCode.ABORTED)
