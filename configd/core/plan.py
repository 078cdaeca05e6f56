"""Write plans: what the writer runs for each write, and the view of the state it runs on.

A plan is a pure function of a StateView, the revision the write would get and the commit
time: it returns what the write changes (Planned), raises NoChange, or raises a domain error.
It never mutates anything. The writer stages a plan's outcome into the view (so later plans
of the same batch see it) and makes it live only after the batch is durable; a dry run runs
the same plan on a fresh view and stages nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from configd.core.model import ChangeSet, Namespace


class NoChange(Exception):
    """Raised by a plan whose write would change nothing; it commits no revision."""


@dataclass(frozen=True, slots=True)
class Planned:
    """A plan's outcome: the write's ChangeSet and the namespace after it (None: deleted)."""

    change_set: ChangeSet
    namespace: Namespace | None


@dataclass(frozen=True, slots=True)
class Repeated:
    """The writer's answer to a write whose request id names a write already committed, as
    `revision`: nothing was planned or stored (configd.core.requests)."""

    revision: int


Outcome = Planned | Repeated | None
"""What the writer answers a submitted plan with (None: the write changed nothing)."""


class StateView:
    """The committed state overlaid with what plans earlier in the same batch staged.

    Carries the namespaces and the schema-version counters (the highest version each name has
    had; numbering continues across delete and re-create, so history never holds two schemas
    with one number). Counters are claimed here, in the batch, and reach the live state only
    with a successful commit, so a refused write or a failed commit leaves no gap."""

    def __init__(
        self, namespaces: Mapping[str, Namespace], schema_versions: Mapping[str, int]
    ) -> None:
        self._committed = namespaces
        self._committed_versions = schema_versions
        self._staged: dict[str, Namespace | None] = {}
        self._staged_versions: dict[str, int] = {}

    def get(self, name: str) -> Namespace | None:
        if name in self._staged:
            return self._staged[name]
        return self._committed.get(name)

    def __len__(self) -> int:
        """How many namespaces exist, counting the ones staged earlier in the batch."""
        count = len(self._committed)
        for name, namespace in self._staged.items():
            count += (namespace is not None) - (name in self._committed)
        return count

    def next_schema_version(self, name: str) -> int:
        """The version number a schema set on `name` now gets."""
        if name in self._staged_versions:
            return self._staged_versions[name] + 1
        return self._committed_versions.get(name, 0) + 1

    def stage(self, planned: Planned) -> None:
        """Record a successful plan's outcome for the plans after it (the writer calls this)."""
        change_set = planned.change_set
        name, version = change_set.namespace, change_set.schema.version
        sets_schema = change_set.sets_schema
        # Read everything first, so a malformed Planned stages nothing.
        self._staged[name] = planned.namespace
        if sets_schema:
            self._staged_versions[name] = version

    @property
    def staged_namespaces(self) -> Mapping[str, Namespace | None]:
        """Each namespace the batch changed, as it stands after the batch (None: deleted)."""
        return self._staged

    @property
    def staged_schema_versions(self) -> Mapping[str, int]:
        """The schema-version counters the batch advanced."""
        return self._staged_versions


Plan = Callable[[StateView, int, float], Planned]
"""plan(view, revision, now): the write's outcome at `revision`, committed at time `now`."""
