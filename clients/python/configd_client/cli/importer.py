"""Importing namespaces (from an export or from Consul): plan, report, then write.

Each namespace is one write, so it is imported whole or not at all, and no reader ever sees
half of it: a new namespace is one CreateNamespace carrying its schema and first document; an
existing one is one Apply carrying the document (and the schema, when it changes), guarded by
the namespace revision the plan was made at. The plan validates every document: existing
namespaces with the server's dry run (against the schema they will have), new ones locally with
the validator the server uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from configd_client.cli import diffs, output
from configd_client.cli.exits import CliFailure, ExitCode, violation_lines
from configd_client.cli.session import Session
from configd_client.errors import FieldViolation, NamespaceNotFound, PreconditionFailed
from configd_client.wire import config_pb2, jsontext
from configd_client.wire.schema import DocumentSchema


@dataclass(frozen=True, slots=True)
class Target:
    """What a namespace should become. `schema` None keeps it (or permissive, if new)."""

    name: str
    document: dict[str, Any]
    schema: Any = None
    merge: bool = False  # add to the existing document instead of replacing it


@dataclass(slots=True)
class NamespacePlan:
    target: Target
    exists: bool
    base_revision: int
    document_json: str
    schema_json: str | None  # the schema to set; None = unchanged
    old_schema_json: str
    changes: list[diffs.KeyDiff]
    violations: list[FieldViolation]
    revision: int = 0
    status: str = field(default="planned")

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def action(self) -> str:
        if not self.exists:
            return "create"
        return "update" if self.changes or self.schema_json is not None else "unchanged"

    @property
    def validation(self) -> str:
        return "invalid" if self.violations else "ok"

    def counts(self) -> dict[str, int]:
        ops = ("add", "change", "remove")
        return {op: sum(1 for c in self.changes if c.op == op) for op in ops}

    def as_data(self) -> dict[str, Any]:
        return {
            "namespace": self.name,
            "action": self.action,
            "schema_change": self.schema_json is not None,
            "base_revision": self.base_revision,
            "changes": [c.as_data() for c in self.changes],
            "validation": self.validation,
            "violations": [
                {"path": v.path, "keyword": v.keyword, "message": v.message}
                for v in self.violations
            ],
            "status": self.status,
            "revision": self.revision,
        }


async def _current_schema(session: Session, name: str) -> str:
    reply = await session.call(session.config.GetSchema, config_pb2.GetSchemaRequest(name=name))
    return str(reply.schema_json)


async def plan_one(session: Session, target: Target) -> NamespacePlan:
    """Compare a target with the server; validate on the server where the API allows it.

    Planned again once if the namespace moved between the read and the dry run: with --force
    the dry run may have aborted a release (a revision that leaves the document as it was)."""
    try:
        return await _plan_once(session, target)
    except _Moved:
        pass
    try:
        return await _plan_once(session, target)
    except _Moved:
        raise CliFailure(
            f"{target.name} changed while the import was being planned; run it again",
            code=ExitCode.CONFLICT,
        ) from None


class _Moved(Exception):
    """The namespace changed between a plan's read and its dry run."""


async def _plan_once(session: Session, target: Target) -> NamespacePlan:
    try:
        current = await session.get_namespace(target.name)
    except NamespaceNotFound:
        document_json = jsontext.dumps(target.document)
        return NamespacePlan(
            target=target,
            exists=False,
            base_revision=0,
            document_json=document_json,
            schema_json=jsontext.dumps(target.schema) if target.schema is not None else None,
            old_schema_json="",
            changes=[
                diffs.KeyDiff(key, None, jsontext.dumps(value))
                for key, value in sorted(target.document.items())
            ],
            violations=_local_violations(target),
        )
    existing = jsontext.loads(current.document_json or "{}")
    document = {**existing, **target.document} if target.merge else target.document
    document_json = jsontext.dumps(document)
    old_schema_json = await _current_schema(session, target.name)
    schema_json = None
    if target.schema is not None and jsontext.loads(old_schema_json or "{}") != target.schema:
        schema_json = jsontext.dumps(target.schema)
    reply = await session.call(
        session.config.Apply,
        config_pb2.ApplyRequest(
            namespace=target.name,
            document_json=document_json,
            schema_json=schema_json,
            dry_run=True,
        ),
    )
    if reply.namespace_revision != current.namespace.mod_revision:
        raise _Moved
    violations = [FieldViolation(v.path, v.keyword, v.message) for v in reply.violations]
    return NamespacePlan(
        target=target,
        exists=True,
        base_revision=reply.namespace_revision,
        document_json=document_json,
        schema_json=schema_json,
        old_schema_json=old_schema_json,
        changes=diffs.from_changes(reply.changes),
        violations=violations,
    )


def _local_violations(target: Target) -> list[FieldViolation]:
    """A new namespace's document checked against its schema, as the server will check it."""
    if target.schema is None or not target.document:
        return []
    try:
        return list(DocumentSchema(target.schema).violations(target.document))
    except ValueError as exc:
        return [FieldViolation("", "$schema", f"the schema cannot be used: {exc}")]


async def plan(session: Session, targets: Sequence[Target]) -> list[NamespacePlan]:
    return [await plan_one(session, target) for target in targets]


async def write(session: Session, item: NamespacePlan, message: str) -> int:
    """Import one planned namespace in one write; raises ConfigdError (or CliFailure) leaving
    it unchanged. Returns the revision it is at afterwards."""
    config = session.config
    if not item.exists:
        created = await session.call(
            config.CreateNamespace,
            config_pb2.CreateNamespaceRequest(
                name=item.name,
                schema_json=item.schema_json or "",
                document_json=item.document_json,
                message=message,
            ),
        )
        return int(created.revision)
    if not item.changes and item.schema_json is None:
        return item.base_revision
    try:
        applied = await session.call(
            config.Apply,
            config_pb2.ApplyRequest(
                namespace=item.name,
                document_json=item.document_json,
                schema_json=item.schema_json,
                preconditions=[config_pb2.Precondition(namespace_revision=item.base_revision)],
                message=message,
            ),
        )
    except PreconditionFailed as error:
        raise CliFailure(
            f"{item.name} changed since the import was planned (at revision "
            f"{item.base_revision}); nothing was written to it. Run the import again.",
            code=ExitCode.CONFLICT,
        ) from error
    return int(applied.revision) or item.base_revision


def report_table(plans: Sequence[NamespacePlan]) -> str:
    rows = []
    for item in plans:
        counts = item.counts()
        rows.append(
            [
                item.name,
                item.action,
                ("set" if not item.exists else "change") if item.schema_json is not None else "-",
                counts["add"],
                counts["change"],
                counts["remove"],
                item.validation,
            ]
        )
    return output.table(
        ["NAMESPACE", "ACTION", "SCHEMA", "ADD", "CHANGE", "REMOVE", "VALIDATION"], rows
    )


def invalid_failure(
    plans: Sequence[NamespacePlan],
    origin: Callable[[str, str], Sequence[str]] | None = None,
) -> CliFailure | None:
    """Refuse the whole import up front if the server already said a document is invalid.

    `origin(namespace, path)` names where a violating value came from (its Consul keys)."""
    bad = [item for item in plans if item.violations]
    if not bad:
        return None
    details = []
    for item in bad:
        details.append(f"{item.name}:")
        for violation, line in zip(item.violations, violation_lines(item.violations), strict=True):
            sources = origin(item.name, violation.path) if origin is not None else ()
            if sources:
                line = f"{line} (Consul key {', '.join(sources)})"
            details.append(f"  {line}")
    return CliFailure(
        "the import does not satisfy the schema of "
        + ", ".join(item.name for item in bad)
        + "; nothing was written",
        code=ExitCode.INVALID,
        details=details,
    )
