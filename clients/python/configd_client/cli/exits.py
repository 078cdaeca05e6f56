"""Exit codes of configctl and the one place that turns a failure into one (stderr + code).

Scripts rely on these numbers; they are listed in `configctl --help` and must not change.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import click

from configd_client.cli.probe import http_port_hint
from configd_client.cli.wording import describe
from configd_client.errors import (
    ConfigdError,
    FieldViolation,
    FutureRevision,
    InvalidArgument,
    RevisionNotApplied,
    StoreRegressed,
)


class ExitCode(enum.IntEnum):
    OK = 0
    DIFFERENT = 1  # only `diff`: the file differs from the server
    USAGE = 2  # bad flags or arguments, unreadable or malformed local input
    UNREACHABLE = 3  # cannot reach the server (or it is unavailable)
    INVALID = 4  # the server refused the content: schema violation, bad name or value
    NOT_FOUND = 5  # namespace, key or revision does not exist
    CONFLICT = 6  # precondition failed, already exists, namespace not empty
    DENIED = 7  # no or bad credentials, not allowed
    SERVER = 8  # any other server error (limits, compacted revision, internal)
    ABORTED = 9  # not confirmed: the operator said no, or no TTY and no --yes
    RELEASE_ABORTED = 10  # only `release status --watch`: the release ended aborted
    INTERRUPTED = 130  # Ctrl-C (except `watch`, which exits 0)


EXIT_CODES_HELP = """\b
Exit codes:
  0  success (diff: no differences)
  1  diff: the file differs from the server
  2  usage error, or unreadable / malformed local input (JSON, YAML, Consul export)
  3  server unreachable or unavailable
  4  refused by the server: schema violation, invalid name or value
  5  not found: namespace, key or revision (also one not written yet)
  6  conflict: changed since the diff was shown, already exists, not empty
  7  unauthenticated or permission denied
  8  other server error (limit exceeded, revision compacted, internal)
  9  not confirmed (answered no, or stdin is not a TTY and --yes was not given)
  10 release status --watch: the release was aborted
  130 interrupted"""


class CliFailure(Exception):
    """A failure shown as one `Error: ...` line (plus optional detail lines) and an exit code.

    `ConfigctlGroup.main` prints it; commands raise it instead of printing and exiting.
    """

    def __init__(
        self,
        message: str,
        *,
        code: ExitCode,
        details: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = int(code)
        self.details = tuple(details)

    def show(self) -> None:
        click.echo(f"Error: {self.message}", err=True)
        for line in self.details:
            click.echo(line, err=True)


# The one table from a server error to an exit code. Every ConfigdError type names its gRPC
# status code (configd_client.errors), and an error the server sent without a configd type
# keeps the status code too, so the table is keyed by that code: one row per code. A row keyed
# by an ErrorInfo reason refines its code where one code covers two documented cases
# (OUT_OF_RANGE: a revision not written yet is "not found", a compacted one is "other").
# Codes not listed are "other server error".
EXIT_CODES: Mapping[str, ExitCode] = MappingProxyType(
    {
        "UNAVAILABLE": ExitCode.UNREACHABLE,
        "DEADLINE_EXCEEDED": ExitCode.UNREACHABLE,
        "INVALID_ARGUMENT": ExitCode.INVALID,
        "NOT_FOUND": ExitCode.NOT_FOUND,
        FutureRevision.reason: ExitCode.NOT_FOUND,
        "FAILED_PRECONDITION": ExitCode.CONFLICT,
        "ALREADY_EXISTS": ExitCode.CONFLICT,
        "UNAUTHENTICATED": ExitCode.DENIED,
        "PERMISSION_DENIED": ExitCode.DENIED,
    }
)


def exit_code_for(error: ConfigdError) -> ExitCode:
    """The exit code for a server error: EXIT_CODES by its reason, else by its status code,
    else SERVER."""
    return EXIT_CODES.get(error.reason) or EXIT_CODES.get(error.code, ExitCode.SERVER)


def violation_lines(violations: Sequence[FieldViolation]) -> list[str]:
    """Schema violations as `path: message` lines (the document root is shown as `/`)."""
    return [f"{v.path or '/'}: {v.message}" for v in violations]


def failure_from(error: ConfigdError, *, addr: str) -> CliFailure:
    """The CLI failure for a server error, in configctl's terms (cli.wording): one line, plus
    each violation the line does not already show, as `path: message`."""
    code = exit_code_for(error)
    # Those two come from a server that answered: their message says what to do.
    if code is ExitCode.UNREACHABLE and not isinstance(error, (RevisionNotApplied, StoreRegressed)):
        reason = error.detail.splitlines()[0] if error.detail else "unavailable"
        reason = http_port_hint(addr, reason) or reason
        return CliFailure(f"cannot reach configd at {addr}: {reason}", code=code)
    message = describe(error)
    violations = error.violations if isinstance(error, InvalidArgument) else ()
    # A request-field error (not a JSON pointer) that only repeats the message adds nothing,
    # nor does a schema violation the message already quotes (the server names the first).
    violations = tuple(
        v
        for v in violations
        if (v.path.startswith("/") or v.message not in error.detail)
        and f"{v.path or '/'}: {v.message}" not in error.detail
    )
    details = violation_lines(violations)
    return CliFailure(message, code=code, details=details)
