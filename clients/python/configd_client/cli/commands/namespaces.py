"""`configctl ns create|list|delete`."""

from __future__ import annotations

from typing import Any

import click

from configd_client.cli import documents, output
from configd_client.cli.context import (
    execute,
    if_revision_option,
    message_option,
    min_revision_option,
    output_option,
    settings,
)
from configd_client.cli.session import Session
from configd_client.wire import config_pb2


@click.group()
def ns() -> None:
    """Create, list and delete namespaces.

    \b
    Examples:
      configctl ns create payments/prod --schema payments.schema.json
      configctl ns list payments/
      configctl ns delete payments/old --force -m "retired"
    """


@ns.command("create")
@click.argument("namespace")
@click.option(
    "--schema",
    "schema_file",
    metavar="FILE",
    help="JSON Schema (draft 2020-12) as .json or .yaml; without it any object is accepted.",
)
@message_option
@output_option
def create(
    namespace: str, schema_file: str | None, message: str, output_format: str | None
) -> None:
    """Create NAMESPACE, optionally with a JSON Schema for its document.

    \b
    Example:
      configctl ns create payments/prod --schema payments.schema.yaml -m "new service"
    """
    schema_json = documents.load_schema(schema_file) if schema_file else ""
    current = settings(output_format)

    async def work(session: Session) -> Any:
        return await session.call(
            session.config.CreateNamespace,
            config_pb2.CreateNamespaceRequest(
                name=namespace, schema_json=schema_json, message=message
            ),
        )

    reply = execute(current, work)
    data = {"namespace": output.namespace_info(reply.namespace), "revision": reply.revision}
    output.emit(
        current.output,
        data,
        lambda: (
            f"created namespace {reply.namespace.name} at revision {reply.revision} "
            f"(schema version {reply.namespace.schema_version})"
        ),
    )


@ns.command("list")
@click.argument("prefix", default="")
@min_revision_option
@output_option
def list_(prefix: str, min_revision: int | None, output_format: str | None) -> None:
    """List namespaces, all or those whose name starts with PREFIX.

    \b
    Example:
      configctl ns list payments/
    """
    current = settings(output_format, min_revision=min_revision)

    async def work(session: Session) -> tuple[list[Any], int]:
        return await session.list_namespaces(prefix)

    found, revision = execute(current, work)
    data = {"revision": revision, "namespaces": [output.namespace_info(n) for n in found]}

    def human() -> str:
        if not found:
            output.note(f"no namespaces{' under ' + repr(prefix) if prefix else ''}")
            return ""
        return output.table(
            ["NAME", "KEYS", "REVISION", "SCHEMA", "CREATED"],
            [
                [n.name, n.key_count, n.mod_revision, f"v{n.schema_version}", n.create_revision]
                for n in found
            ],
        )

    output.emit(current.output, data, human)


@ns.command("delete")
@click.argument("namespace")
@click.option(
    "--force",
    is_flag=True,
    help="Delete even if keys remain (each is recorded); if a release runs on the namespace, "
    "abort it first (in history).",
)
@if_revision_option
@message_option
@output_option
def delete(
    namespace: str,
    force: bool,
    if_revision: int | None,
    message: str,
    output_format: str | None,
) -> None:
    """Delete NAMESPACE; refused while it has keys or a release runs on it, unless --force.

    \b
    Example:
      configctl ns delete payments/old --force -m "retired"
    """
    current = settings(output_format, force=force, message=message)
    preconditions = [config_pb2.Precondition(namespace_revision=if_revision)] if if_revision else []

    async def work(session: Session) -> Any:
        return await session.call(
            session.config.DeleteNamespace,
            config_pb2.DeleteNamespaceRequest(
                name=namespace, force=force, message=message, preconditions=preconditions
            ),
        )

    reply = execute(current, work)
    output.emit(
        current.output,
        {"namespace": namespace, "revision": reply.revision},
        lambda: f"deleted namespace {namespace} at revision {reply.revision}",
    )
