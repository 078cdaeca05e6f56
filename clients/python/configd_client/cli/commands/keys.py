"""`configctl get`, `put` and `delete`: one key (or, for get, a whole namespace)."""

from __future__ import annotations

import json
from typing import Any

import click

from configd_client.cli import documents, output
from configd_client.cli.context import (
    execute,
    force_option,
    message_option,
    min_revision_option,
    output_option,
    settings,
)
from configd_client.cli.session import Session
from configd_client.wire import config_pb2, jsontext

BARE_HELP = (
    "Print only the value (or the whole document), as JSON or with -o yaml as YAML: "
    "ready for `put @FILE` or `apply -f`."
)


def _bare(current_output: str, parsed: Any) -> None:
    click.echo(
        output.to_yaml(parsed) if current_output == "yaml" else output.pretty(parsed),
        nl=current_output != "yaml",
    )


@click.command()
@click.argument("namespace")
@click.argument("key", required=False)
@click.option("--revision", type=click.IntRange(min=1), help="Read as of an older revision.")
@click.option("--bare", is_flag=True, help=BARE_HELP)
@min_revision_option
@output_option
def get(
    namespace: str,
    key: str | None,
    revision: int | None,
    bare: bool,
    min_revision: int | None,
    output_format: str | None,
) -> None:
    """Show one KEY of NAMESPACE, or every key with its metadata.

    \b
    Examples:
      configctl get payments/prod
      configctl get payments/prod timeout_ms --bare
      configctl get payments/prod -o yaml --bare > payments.yaml
      configctl get payments/prod timeout_ms --min-revision 42   # after a put at 42
    """
    current = settings(output_format, min_revision=min_revision)
    if key is None:
        _get_namespace(current.output, namespace, revision or 0, bare, current)
        return

    async def work(session: Session) -> Any:
        return await session.call(
            session.config.Get,
            config_pb2.GetRequest(namespace=namespace, key=key, revision=revision or 0),
        )

    reply = execute(current, work)
    parsed = output.value(reply.value_json)
    if bare:
        _bare(current.output, parsed)
        return
    data = {
        "namespace": namespace,
        "key": reply.meta.key or key,
        "value": parsed,
        **output.key_meta(reply.meta),
        "revision": reply.revision,
    }
    output.emit(
        current.output,
        data,
        lambda: output.table(
            ["KEY", "VALUE", "VERSION", "MODIFIED", "CREATED"],
            [
                [
                    key,
                    output.compact(reply.value_json),
                    reply.meta.version,
                    reply.meta.mod_revision,
                    reply.meta.create_revision,
                ]
            ],
        ),
    )


def _get_namespace(fmt: str, namespace: str, revision: int, bare: bool, current: Any) -> None:
    async def work(session: Session) -> Any:
        return await session.get_namespace(namespace, revision)

    reply = execute(current, work)
    document = jsontext.loads(reply.document_json) if reply.document_json else {}
    if bare:
        _bare(fmt, document)
        return
    data = {
        "namespace": reply.namespace.name or namespace,
        "revision": reply.revision,
        "namespace_revision": reply.namespace.mod_revision,
        "schema_version": reply.namespace.schema_version,
        "document": document,
        "keys": {meta.key: output.key_meta(meta) for meta in reply.keys},
    }

    def human() -> str:
        if not reply.keys:
            output.note(
                f"{namespace} has no keys (namespace revision {reply.namespace.mod_revision})"
            )
            return ""
        return output.table(
            ["KEY", "VALUE", "VERSION", "MODIFIED", "CREATED"],
            [
                [
                    meta.key,
                    output.compact(json.dumps(document.get(meta.key))),
                    meta.version,
                    meta.mod_revision,
                    meta.create_revision,
                ]
                for meta in reply.keys
            ],
        )

    output.emit(fmt, data, human)


def _key_preconditions(key: str, if_mod_revision: int | None, if_absent: bool) -> list[Any]:
    preconditions = []
    if if_mod_revision is not None:
        preconditions.append(
            config_pb2.Precondition(
                key_mod_revision=config_pb2.KeyModRevision(key=key, mod_revision=if_mod_revision)
            )
        )
    if if_absent:
        preconditions.append(config_pb2.Precondition(key_absent=key))
    return preconditions


def _write_result(fmt: str, verb: str, namespace: str, key: str, reply: Any) -> None:
    output.emit(
        fmt,
        {"namespace": namespace, "key": key, "revision": reply.revision},
        lambda: f"{verb} {namespace} {key} at revision {reply.revision}",
    )


@click.command()
@click.argument("namespace")
@click.argument("key")
@click.argument("value")
@click.option(
    "--if-mod-revision",
    type=click.IntRange(min=1),
    metavar="REV",
    help="Only if KEY was last changed at revision REV (compare-and-set).",
)
@click.option("--if-absent", is_flag=True, help="Only if KEY does not exist yet.")
@message_option
@force_option
@output_option
def put(
    namespace: str,
    key: str,
    value: str,
    if_mod_revision: int | None,
    if_absent: bool,
    message: str,
    force: bool,
    output_format: str | None,
) -> None:
    """Set KEY of NAMESPACE to VALUE, a JSON value or @FILE (.json/.yaml; @- for stdin).

    Strings are JSON too, so quote them for the shell: '"text"'.

    \b
    Examples:
      configctl put payments/prod timeout_ms 2500 -m "slower upstream"
      configctl put payments/prod region '"eu-west-1"'
      configctl put payments/prod limits @limits.yaml
    """
    if if_absent and if_mod_revision is not None:
        raise click.UsageError("--if-absent and --if-mod-revision exclude each other")
    value_json = documents.value_argument(value)
    current = settings(output_format, force=force, message=message)

    async def work(session: Session) -> Any:
        return await session.call(
            session.config.Put,
            config_pb2.PutRequest(
                namespace=namespace,
                key=key,
                value_json=value_json,
                message=message,
                preconditions=_key_preconditions(key, if_mod_revision, if_absent),
            ),
        )

    _write_result(current.output, "put", namespace, key, execute(current, work))


@click.command()
@click.argument("namespace")
@click.argument("key")
@click.option(
    "--if-mod-revision",
    type=click.IntRange(min=1),
    metavar="REV",
    help="Only if KEY was last changed at revision REV (compare-and-delete).",
)
@message_option
@force_option
@output_option
def delete(
    namespace: str,
    key: str,
    if_mod_revision: int | None,
    message: str,
    force: bool,
    output_format: str | None,
) -> None:
    """Delete KEY from NAMESPACE.

    \b
    Example:
      configctl delete payments/prod legacy_mode -m "feature removed"
    """
    current = settings(output_format, force=force, message=message)

    async def work(session: Session) -> Any:
        return await session.call(
            session.config.Delete,
            config_pb2.DeleteRequest(
                namespace=namespace,
                key=key,
                message=message,
                preconditions=_key_preconditions(key, if_mod_revision, False),
            ),
        )

    _write_result(current.output, "deleted", namespace, key, execute(current, work))


COMMANDS = (get, put, delete)
