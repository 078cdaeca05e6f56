"""Importing namespaces (from an export or from Consul): plan, report, then write.

Each namespace is written atomically from the outside: one Apply (one revision) when only
its document changes. When the schema changes too, or the namespace is new, the API needs two
or three writes (CreateNamespace / SetSchema / Apply); if a later one fails, the earlier ones are
undone (delete the new namespace, restore the old schema or document) under revision
preconditions, so a namespace ends up either fully imported or as it was.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from configd_client._proto.configd.v1 import config_pb2
from configd_client.cli import diffs, documents, output
from configd_client.cli.exits import CliFailure, ExitCode, violation_lines
from configd_client.cli.session import Session
from configd_client.errors import (
    ConfigdError,
    FieldViolation,
    NamespaceNotFound,
    PreconditionFailed,
    SchemaViolation,
)


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
        """What the dry run could check: the server validates only against the current schema."""
        if self.violations:
            return "invalid"
        if not self.exists or self.schema_json is not None:
            return "on write"
        return "ok"

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
    """Compare a target with the server; validate on the server where the API allows it."""
    try:
        current = await session.get_namespace(target.name)
    except NamespaceNotFound:
        document_json = documents.dumps(target.document)
        return NamespacePlan(
            target=target,
            exists=False,
            base_revision=0,
            document_json=document_json,
            schema_json=documents.dumps(target.schema) if target.schema is not None else None,
            old_schema_json="",
            changes=[
                diffs.KeyDiff(key, None, documents.dumps(value))
                for key, value in sorted(target.document.items())
            ],
            violations=[],
        )
    existing = json.loads(current.document_json or "{}")
    document = {**existing, **target.document} if target.merge else target.document
    document_json = documents.dumps(document)
    old_schema_json = await _current_schema(session, target.name)
    schema_json = None
    if target.schema is not None and json.loads(old_schema_json or "{}") != target.schema:
        schema_json = documents.dumps(target.schema)
    reply = await session.call(
        session.config.Apply,
        config_pb2.ApplyRequest(namespace=target.name, document_json=document_json, dry_run=True),
    )
    if reply.namespace_revision != current.namespace.mod_revision:
        raise CliFailure(
            f"{target.name} changed while the import was being planned; run it again",
            code=ExitCode.CONFLICT,
        )
    violations = [FieldViolation(v.path, v.keyword, v.message) for v in reply.violations]
    return NamespacePlan(
        target=target,
        exists=True,
        base_revision=reply.namespace_revision,
        document_json=document_json,
        schema_json=schema_json,
        old_schema_json=old_schema_json,
        changes=diffs.from_changes(reply.changes),
        # Against the old schema the verdict means nothing when the schema changes too.
        violations=violations if not reply.valid and schema_json is None else [],
    )


async def plan(session: Session, targets: Sequence[Target]) -> list[NamespacePlan]:
    return [await plan_one(session, target) for target in targets]


def _at(revision: int) -> list[Any]:
    return [config_pb2.Precondition(namespace_revision=revision)]


class _Writer:
    """The writes for one namespace, each guarded by the revision the previous one produced."""

    def __init__(self, session: Session, item: NamespacePlan, message: str) -> None:
        self.session = session
        self.item = item
        self.message = message
        self.config = session.config

    async def apply(self, revision: int) -> int:
        reply = await self.session.call(
            self.config.Apply,
            config_pb2.ApplyRequest(
                namespace=self.item.name,
                document_json=self.item.document_json,
                preconditions=_at(revision),
                message=self.message,
            ),
        )
        return int(reply.revision) or revision

    async def set_schema(self, schema_json: str, revision: int, message: str = "") -> int:
        reply = await self.session.call(
            self.config.SetSchema,
            config_pb2.SetSchemaRequest(
                name=self.item.name,
                schema_json=schema_json,
                preconditions=_at(revision),
                message=message or self.message,
            ),
        )
        return int(reply.revision)

    async def create(self, schema_json: str) -> int:
        reply = await self.session.call(
            self.config.CreateNamespace,
            config_pb2.CreateNamespaceRequest(
                name=self.item.name, schema_json=schema_json, message=self.message
            ),
        )
        return int(reply.revision)

    async def delete(self, revision: int) -> None:
        await self.session.call(
            self.config.DeleteNamespace,
            config_pb2.DeleteNamespaceRequest(
                name=self.item.name,
                force=True,
                preconditions=_at(revision),
                message="configctl import: undo the creation after a failed import",
            ),
        )

    async def rollback(self, to_revision: int, revision: int) -> None:
        await self.session.call(
            self.config.Rollback,
            config_pb2.RollbackRequest(
                namespace=self.item.name,
                to_revision=to_revision,
                preconditions=_at(revision),
                message="configctl import: undo after a failed import",
            ),
        )

    async def undo(self, error: ConfigdError, action: Callable[[], Awaitable[Any]]) -> NoReturn:
        """Undo earlier writes after `error`; if that fails too, say what state is left."""
        try:
            await action()
        except ConfigdError as undo_error:
            raise CliFailure(
                f"importing {self.item.name} failed ({error.detail}) and undoing the partial "
                f"import failed too ({undo_error.detail}); check it with "
                f"`configctl history {self.item.name}`",
                code=ExitCode.SERVER,
            ) from error
        raise error

    async def run(self) -> int:
        item = self.item
        if not item.exists:
            return await self._create()
        if item.schema_json is None:
            return await self.apply(item.base_revision) if item.changes else item.base_revision
        return await self._update_with_schema(item.schema_json)

    async def _create(self) -> int:
        item = self.item
        revision = await self.create(item.schema_json or "")
        if not item.target.document:
            return revision
        try:
            return await self.apply(revision)
        except ConfigdError as error:
            await self.undo(error, lambda: self.delete(revision))

    async def _update_with_schema(self, schema_json: str) -> int:
        item = self.item
        try:
            revision = await self.set_schema(schema_json, item.base_revision)
        except SchemaViolation:
            if not item.changes:
                raise
            # The current document fails the new schema: write the document first.
            revision = await self.apply(item.base_revision)
            try:
                return await self.set_schema(schema_json, revision)
            except ConfigdError as error:
                written = revision
                await self.undo(error, lambda: self.rollback(item.base_revision, written))
        if not item.changes:
            return revision
        try:
            return await self.apply(revision)
        except ConfigdError as error:
            changed = revision
            await self.undo(
                error,
                lambda: self.set_schema(
                    item.old_schema_json, changed, "configctl import: undo the schema change"
                ),
            )


async def write(session: Session, item: NamespacePlan, message: str) -> int:
    """Import one planned namespace; raises ConfigdError (or CliFailure) leaving it unchanged."""
    try:
        return await _Writer(session, item, message).run()
    except PreconditionFailed as error:
        raise CliFailure(
            f"{item.name} changed since the import was planned (at revision "
            f"{item.base_revision}); nothing was written to it. Run the import again.",
            code=ExitCode.CONFLICT,
        ) from error


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


def invalid_failure(plans: Sequence[NamespacePlan]) -> CliFailure | None:
    """Refuse the whole import up front if the server already said a document is invalid."""
    bad = [item for item in plans if item.violations]
    if not bad:
        return None
    details = []
    for item in bad:
        details.append(f"{item.name}:")
        details.extend(f"  {line}" for line in violation_lines(item.violations))
    return CliFailure(
        "the import does not satisfy the schema of "
        + ", ".join(item.name for item in bad)
        + "; nothing was written",
        code=ExitCode.INVALID,
        details=details,
    )
