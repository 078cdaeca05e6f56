"""What commands share: the output options, the settings, running against the server
(confirmation: configd_client.cli.prompts)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from configd_client.cli.exits import failure_from
from configd_client.cli.session import OUTPUT_FORMATS, Session, Settings, run
from configd_client.errors import ConfigdError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def output_option(command: F) -> F:
    """`-o` on each command too, so `configctl get ns -o json` works as well as before it."""
    return click.option(
        "-o",
        "--output",
        "output_format",
        type=click.Choice(OUTPUT_FORMATS),
        default=None,
        help="Output format (default: the global -o, else table).",
    )(command)


def message_option(command: F) -> F:
    return click.option(
        "-m", "--message", default="", help="Why this change was made (kept in history)."
    )(command)


def if_revision_option(command: F) -> F:
    """`--if-revision REV`: a namespace-revision precondition (compare-and-set)."""
    return click.option(
        "--if-revision",
        type=int,
        metavar="REV",
        help="Only if the namespace revision (its last write) is still REV.",
    )(command)


def force_option(command: F) -> F:
    """`--force` on the writes: a release running on the namespace is aborted first."""
    return click.option(
        "--force",
        is_flag=True,
        help="If a release runs on the namespace, abort it first (in history), then write.",
    )(command)


def yes_option(command: F) -> F:
    return click.option(
        "-y", "--yes", is_flag=True, help="Do not ask for confirmation (for scripts)."
    )(command)


def min_revision_option(command: F) -> F:
    """`--min-revision N` on the verbs that read: answer only once the server has applied N."""
    return click.option(
        "--min-revision",
        type=click.IntRange(min=0),
        default=None,
        metavar="REV",
        help="Answer only once the server has applied revision REV (e.g. the revision a put "
        "printed), waiting a bounded time; for read-your-writes across replicas "
        "[default: the global --min-revision / CONFIGD_MIN_REVISION].",
    )(command)


def settings(
    output: str | None = None,
    *,
    min_revision: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    message: str = "",
    yes: bool = False,
) -> Settings:
    """The global settings, with a command's own `-o`, `--min-revision`, `--force`,
    `--dry-run`, `-m` and `--yes` taking precedence (Session applies the release rule with
    them)."""
    ctx = click.get_current_context()
    base = ctx.find_object(Settings)
    if base is None:  # pragma: no cover - the root group always sets it
        raise click.UsageError("configctl commands must run under the configctl group")
    if output is None and min_revision is None and not (force or dry_run or message or yes):
        return base
    return dataclasses.replace(
        base,
        output=base.output if output is None else output,
        min_revision=base.min_revision if min_revision is None else min_revision,
        abort_release=force or base.abort_release,
        dry_run=dry_run or base.dry_run,
        message=message or base.message,
        yes=yes or base.yes,
    )


def execute(current: Settings, work: Callable[[Session], Awaitable[T]]) -> T:
    """Run `work` against the server; a server error becomes a CLI failure with its exit code."""
    try:
        return run(current, work)
    except ConfigdError as error:
        raise failure_from(error, addr=current.connect.addr) from error
