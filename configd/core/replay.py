"""Replaying a committed ChangeSet: what a write did, rebuilt from its record alone.

A process that shares its store with other replicas learns their writes as ChangeSets read
from the revision log. replay() turns one into the Planned outcome the writer that made it
produced (the namespace after the write), so it can be staged into a StateView and made live
through the very step that publishes the process's own writes. Pure, no I/O.

The ChangeSet must follow from the view: each change's old entry is the key's entry in the
view, a create finds no namespace and anything else finds one. A record that does not follow
(a skipped or repeated revision, a bug) raises ReplayMismatch instead of building a state
that is not the store's.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from configd.core.model import ChangeSet, Namespace, WriteKind, key_bytes
from configd.core.plan import Planned, StateView


class ReplayMismatch(Exception):
    """A ChangeSet that does not follow from the state it is replayed on."""


def replay(view: StateView, change_set: ChangeSet) -> Planned:
    """The outcome of `change_set` (committed at its revision) on the state in `view`."""
    name, revision = change_set.namespace, change_set.revision
    before = view.get(name)
    creates = change_set.kind is WriteKind.CREATE_NAMESPACE
    if (before is None) != creates:
        state = "absent" if before is None else "present"
        raise ReplayMismatch(
            f"revision {revision} ({change_set.kind.name}) does not follow: namespace "
            f"{name!r} is {state} here"
        )
    if before is not None and before.create_revision != change_set.create_revision:
        raise ReplayMismatch(
            f"revision {revision} does not follow: it writes {name!r} as created at revision "
            f"{change_set.create_revision}, here it was created at {before.create_revision}"
        )
    if change_set.for_slice:
        return _replay_release(before, change_set)
    if (
        before is not None
        and before.release is not None
        and (change_set.kind is not WriteKind.RELEASE_PROMOTE)
    ):
        raise ReplayMismatch(
            f"revision {revision} ({change_set.kind.name}) writes {name!r} while its release "
            f"{before.release.id} runs here"
        )
    entries = {} if before is None else dict(before.entries)
    size = 0 if before is None else before.size
    for change in change_set.changes:
        if entries.get(change.key) != change.old:
            raise ReplayMismatch(
                f"revision {revision} does not follow: key {change.key!r} of {name!r} is not "
                "what the write found"
            )
        if change.old is not None:
            size -= key_bytes(change.key, change.old)
            del entries[change.key]
        if change.new is not None:
            entries[change.key] = change.new
            size += key_bytes(change.key, change.new)
    if change_set.kind is WriteKind.DELETE_NAMESPACE:
        if entries:
            raise ReplayMismatch(
                f"revision {revision} deletes {name!r} but leaves {len(entries)} keys"
            )
        return Planned(change_set, None)
    namespace = Namespace(
        name,
        change_set.create_revision,
        revision,
        change_set.schema,
        MappingProxyType(entries),  # this replay's own copy
        size,
    )
    return Planned(change_set, namespace)


def _replay_release(before: Namespace | None, change_set: ChangeSet) -> Planned:
    """A release's start or abort: the document stays; the release is set or cleared."""
    revision, release = change_set.revision, change_set.release
    assert before is not None  # checked by replay()
    running = before.release
    if change_set.kind is WriteKind.RELEASE_START:
        if release is None or running is not None:
            raise ReplayMismatch(
                f"revision {revision} starts a release on {before.name!r}, which "
                + ("already has one" if running is not None else "carries none")
            )
        for change in change_set.changes:
            if before.entries.get(change.key) != change.old:
                raise ReplayMismatch(
                    f"revision {revision} does not follow: key {change.key!r} of "
                    f"{before.name!r} is not what the release started on"
                )
        return Planned(change_set, replace(before, mod_revision=revision, release=release))
    if release is None or running is None or running.id != release.id:
        raise ReplayMismatch(
            f"revision {revision} aborts a release of {before.name!r} that does not run here"
        )
    return Planned(change_set, replace(before, mod_revision=revision, release=None))
