"""`configctl apply`, `diff` and `rollback`: whole-document changes, reviewed before publishing.

The diff shown is the server's (Apply with dry_run) and names the namespace revision it was
computed against; the write then carries that revision as a precondition, so a change made by
someone else in between is refused instead of silently overwritten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import click

from configd_client.cli import diffs, documents, output
from configd_client.cli.context import (
    execute,
    force_option,
    message_option,
    output_option,
    settings,
    yes_option,
)
from configd_client.cli.exits import CliFailure, ExitCode, violation_lines
from configd_client.cli.prompts import confirm
from configd_client.cli.session import Session, Settings
from configd_client.errors import FieldViolation, PreconditionFailed
from configd_client.wire import config_pb2, jsontext


@dataclass(frozen=True, slots=True)
class Review:
    """The server's verdict on a proposed document: diff, validity, and its base revision."""

    namespace: str
    base_revision: int
    changes: list[diffs.KeyDiff]
    violations: list[FieldViolation]

    @property
    def valid(self) -> bool:
        return not self.violations

    def as_data(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "base_revision": self.base_revision,
            "changes": [d.as_data() for d in self.changes],
            "valid": self.valid,
            "violations": [
                {"path": v.path, "keyword": v.keyword, "message": v.message}
                for v in self.violations
            ],
        }

    def lines(self) -> list[str]:
        head = (
            f"{self.namespace}: {diffs.summary(self.changes)} "
            f"(against revision {self.base_revision})"
        )
        return [head, *diffs.render(self.changes)]

    def invalid_failure(self) -> CliFailure:
        return CliFailure(
            f"the document does not satisfy the schema of {self.namespace}; nothing was written",
            code=ExitCode.INVALID,
            details=violation_lines(self.violations),
        )


async def review(session: Session, namespace: str, document_json: str) -> Review:
    """Ask the server what replacing the document would change (Apply dry_run)."""
    reply = await session.call(
        session.config.Apply,
        config_pb2.ApplyRequest(namespace=namespace, document_json=document_json, dry_run=True),
    )
    return Review(
        namespace=namespace,
        base_revision=reply.namespace_revision,
        changes=diffs.from_changes(reply.changes),
        violations=[FieldViolation(v.path, v.keyword, v.message) for v in reply.violations]
        if not reply.valid
        else [],
    )


def show_review(current: Settings, result: Review) -> None:
    """The diff for a person: stdout in table mode, stderr when stdout is for a script."""
    for line in result.lines():
        click.echo(line, err=current.output != "table")


def conflict(namespace: str, base_revision: int, error: PreconditionFailed) -> CliFailure:
    now = max((f.current_revision for f in error.failures), default=0)
    now_text = f", now at revision {now}" if now else ""
    return CliFailure(
        f"{namespace} changed since the diff was computed (at revision {base_revision}"
        f"{now_text}); nothing was written. Run the command again to review the new diff.",
        code=ExitCode.CONFLICT,
    )


async def reviewed_write(
    session: Session,
    current: Settings,
    result: Review,
    *,
    question: str,
    yes: bool,
    dry_run: bool,
    write: Callable[[list[Any]], Awaitable[Any]],
) -> int:
    """Show the review, confirm, then write under the base-revision precondition.

    Returns the new revision (0 when nothing was written: no changes or a dry run).
    """
    show_review(current, result)
    if not result.valid:
        raise result.invalid_failure()
    if not result.changes or dry_run:
        return 0
    confirm(question, yes=yes)
    try:
        reply = await write([config_pb2.Precondition(namespace_revision=result.base_revision)])
    except PreconditionFailed as error:
        raise conflict(result.namespace, result.base_revision, error) from error
    return int(reply.revision)


def _report(current: Settings, result: Review, revision: int, dry_run: bool, done: str) -> None:
    data = {**result.as_data(), "dry_run": dry_run, "revision": revision}
    if current.output != "table":
        output.emit(current.output, data, lambda: None)
    elif dry_run:
        output.note("dry run: nothing was written")
    elif revision:
        click.echo(done.format(namespace=result.namespace, revision=revision))


@click.command()
@click.argument("namespace")
@click.option(
    "-f",
    "--file",
    "source",
    required=True,
    metavar="FILE",
    help="The whole new document: a JSON or YAML object of key: value (- for stdin).",
)
@click.option("--dry-run", is_flag=True, help="Show the diff and validate; write nothing.")
@message_option
@yes_option
@force_option
@output_option
def apply(
    namespace: str,
    source: str,
    dry_run: bool,
    message: str,
    yes: bool,
    force: bool,
    output_format: str | None,
) -> None:
    """Replace NAMESPACE's document with FILE, as one revision, after review.

    Shows the per-key diff, validates it on the server, asks for confirmation (unless --yes),
    and publishes only if nobody changed NAMESPACE since the diff was computed. Keys absent
    from FILE are deleted. Without a terminal on stdin, --yes is required.

    \b
    Examples:
      configctl apply payments/prod -f payments.yaml -m "release 42"
      configctl apply payments/prod -f payments.json --dry-run
    """
    document_json = jsontext.dumps(documents.load_document(source))
    current = settings(output_format, force=force, dry_run=dry_run, message=message, yes=yes)

    async def work(session: Session) -> tuple[Review, int]:
        result = await review(session, namespace, document_json)

        async def write(preconditions: list[Any]) -> Any:
            return await session.call(
                session.config.Apply,
                config_pb2.ApplyRequest(
                    namespace=namespace,
                    document_json=document_json,
                    preconditions=preconditions,
                    message=message,
                ),
            )

        revision = await reviewed_write(
            session,
            current,
            result,
            question=f"Apply these changes to {namespace}?",
            yes=yes,
            dry_run=dry_run,
            write=write,
        )
        return result, revision

    result, revision = execute(current, work)
    _report(current, result, revision, dry_run, "applied {namespace} at revision {revision}")


@click.command()
@click.argument("namespace")
@click.option(
    "-f",
    "--file",
    "source",
    required=True,
    metavar="FILE",
    help="The whole document to compare: JSON or YAML (- for stdin).",
)
@output_option
@click.pass_context
def diff(ctx: click.Context, namespace: str, source: str, output_format: str | None) -> None:
    """Compare FILE with NAMESPACE's document on the server.

    Exits 0 when equal, 1 when different, and 4 if FILE does not satisfy the schema
    (for CI: `configctl diff ns -f file || ...`).

    \b
    Example:
      configctl diff payments/prod -f payments.yaml
    """
    document_json = jsontext.dumps(documents.load_document(source))
    current = settings(output_format)

    async def work(session: Session) -> Review:
        return await review(session, namespace, document_json)

    result = execute(current, work)
    if current.output == "table":
        show_review(current, result)
    else:
        output.emit(current.output, result.as_data(), lambda: None)
    if not result.valid:
        raise result.invalid_failure()
    if result.changes:
        ctx.exit(ExitCode.DIFFERENT)


@click.command()
@click.argument("namespace")
@click.option(
    "--to",
    "to_revision",
    required=True,
    type=click.IntRange(min=1),
    metavar="REVISION",
    help="Restore the document as it was at this revision.",
)
@click.option("--dry-run", is_flag=True, help="Show the diff; write nothing.")
@message_option
@yes_option
@force_option
@output_option
def rollback(
    namespace: str,
    to_revision: int,
    dry_run: bool,
    message: str,
    yes: bool,
    force: bool,
    output_format: str | None,
) -> None:
    """Restore NAMESPACE's document of REVISION as a new revision, after review.

    \b
    Example:
      configctl history payments/prod
      configctl rollback payments/prod --to 41 -m "release 42 broke checkout"
      configctl rollback payments/prod --to 41 --force -m "abort the canary, restore 41"
    """
    current = settings(output_format, force=force, dry_run=dry_run, message=message, yes=yes)

    async def work(session: Session) -> tuple[Review, int]:
        then = await session.get_namespace(namespace, to_revision)
        result = await review(session, namespace, then.document_json or "{}")

        async def write(preconditions: list[Any]) -> Any:
            return await session.call(
                session.config.Rollback,
                config_pb2.RollbackRequest(
                    namespace=namespace,
                    to_revision=to_revision,
                    message=message,
                    preconditions=preconditions,
                ),
            )

        revision = await reviewed_write(
            session,
            current,
            result,
            question=f"Roll {namespace} back to its document of revision {to_revision}?",
            yes=yes,
            dry_run=dry_run,
            write=write,
        )
        return result, revision

    result, revision = execute(current, work)
    _report(
        current,
        result,
        revision,
        dry_run,
        f"rolled back {{namespace}} to its document of revision {to_revision} "
        "(as revision {revision})",
    )


COMMANDS = (apply, diff, rollback)
