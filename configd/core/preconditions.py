"""Compare-and-set preconditions: checked when a write arrives, enforced when it is planned."""

from __future__ import annotations

from collections.abc import Sequence

from configd.core.errors import FailedCondition, InvalidArgument, PreconditionFailed
from configd.core.limits import Limits
from configd.core.model import KeyAbsent, KeyModRevision, Namespace, NamespaceRevision, Precondition
from configd.core.names import check_key


def check_preconditions(preconditions: Sequence[Precondition], limits: Limits) -> None:
    """Refuse malformed preconditions before a write is queued."""
    for p in preconditions:
        if isinstance(p, KeyModRevision | KeyAbsent):
            check_key(p.key, limits, field="preconditions.key")
        if isinstance(p, KeyModRevision) and p.mod_revision <= 0:
            raise InvalidArgument(
                f"precondition mod_revision for key {p.key!r} must be positive; "
                "use key_absent to require that the key does not exist",
                field="preconditions",
            )
        if isinstance(p, NamespaceRevision) and p.revision <= 0:
            raise InvalidArgument(
                "precondition namespace_revision must be positive", field="preconditions"
            )


def enforce_preconditions(namespace: Namespace, preconditions: Sequence[Precondition]) -> None:
    """Raise PreconditionFailed, listing every failed condition with the current revision,
    unless all of them hold for `namespace` (run by the write's plan, on the state it will
    really apply to)."""
    failures: list[FailedCondition] = []
    for p in preconditions:
        if isinstance(p, NamespaceRevision):
            if namespace.mod_revision != p.revision:
                failures.append(
                    FailedCondition(
                        f"namespace:{namespace.name}",
                        f"namespace {namespace.name!r} is at revision "
                        f"{namespace.mod_revision}, expected {p.revision}",
                        namespace.mod_revision,
                    )
                )
            continue
        entry = namespace.entries.get(p.key)
        current = entry.mod_revision if entry is not None else 0
        if isinstance(p, KeyAbsent) and entry is not None:
            failures.append(
                FailedCondition(
                    f"key:{p.key}", f"key {p.key!r} exists (mod_revision {current})", current
                )
            )
        elif isinstance(p, KeyModRevision) and current != p.mod_revision:
            state = f"has mod_revision {current}" if entry else "does not exist"
            failures.append(
                FailedCondition(
                    f"key:{p.key}", f"key {p.key!r} {state}, expected {p.mod_revision}", current
                )
            )
    if failures:
        raise PreconditionFailed(
            "precondition failed: "
            + "; ".join(f.description for f in failures)
            + "; nothing was written: re-read and retry",
            failures=failures,
        )
