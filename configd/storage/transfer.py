"""Copying a whole store between backends, and proving the copy equal.

Both backends keep the same tables with the same columns (the data model is one), so a copy
is the rows of each table, moved as they are: revisions keep their numbers, history keeps its
compaction, tokens keep their generations. `configd migrate` (SQLite data directory to
PostgreSQL) and a PostgreSQL backup (to a SQLite backup file) are both such a copy.

A copy is never trusted on the word of the code that wrote it: verify_copy reads both stores
back through the Storage and TokenStore Protocols (the reads the service itself makes) and
compares every namespace, every schema version, every revision of the history (with the
releases their change sets carry), every token, each namespace's newest release, every client
and every acknowledgement of a namespace that exists.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from configd.core.errors import StorageFailure
from configd.storage.base import ClientStore, Storage, StoredState, TokenStore


class CopiedStore(Storage, ClientStore, Protocol):
    """What verify_copy reads a store through."""


TABLES: tuple[str, ...] = (
    "meta",
    "revisions",
    "changes",
    "schemas",
    "namespaces",
    "kv",
    "tokens",
    "releases",
    "clients",
    "acks",
)
"""Every table that holds a store's state, in an order that loads (none refers to another)."""

CHUNK_ROWS = 2_000
"""Rows per TableRows chunk: bounded memory for any history length."""

_PAGE = 500  # change sets per comparison read


@dataclass(frozen=True, slots=True)
class TableRows:
    """A chunk of one table's rows, with the column names they are in."""

    table: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]


TableStream = AsyncIterator[TableRows]


class CopyMismatch(StorageFailure):
    """The copy differs from its source; the message names the first difference."""


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What verify_copy compared."""

    revision: int
    compact_revision: int
    namespaces: int
    change_sets: int
    schema_versions: int
    tokens: int
    clients: int = 0


async def verify_copy(
    source: CopiedStore,
    source_state: StoredState,
    source_tokens: TokenStore,
    target: CopiedStore,
    target_state: StoredState,
    target_tokens: TokenStore,
) -> CopyReport:
    """Compare two open stores (each with its loaded state and open token store); raise
    CopyMismatch at the first difference."""
    for what, left, right in (
        ("revision", source_state.revision, target_state.revision),
        ("compaction revision", source_state.compact_revision, target_state.compact_revision),
        ("namespaces", sorted(source_state.namespaces), sorted(target_state.namespaces)),
        ("schema version counters", source_state.schema_versions, target_state.schema_versions),
    ):
        if left != right:
            raise CopyMismatch(f"the copy's {what} differs: {right!r}, not {left!r}")
    for name, namespace in source_state.namespaces.items():
        if target_state.namespaces[name] != namespace:
            raise CopyMismatch(f"the copy of namespace {name!r} differs from its source")
    for name in source_state.namespaces:
        if await source.release(name, 0) != await target.release(name, 0):
            raise CopyMismatch(f"the copy's newest release of {name!r} differs from its source")
        if await source.load_acks(name) != await target.load_acks(name):
            raise CopyMismatch(f"the copy's acknowledgements of {name!r} differ from its source")
    clients = await source.load_clients(-math.inf)
    if clients != await target.load_clients(-math.inf):
        raise CopyMismatch("the copy's clients differ from their source")
    schema_versions = 0
    for name, highest in source_state.schema_versions.items():
        for version in range(1, highest + 1):
            if await source.schema(name, version) != await target.schema(name, version):
                raise CopyMismatch(f"schema version {version} of {name!r} differs in the copy")
            schema_versions += 1
    change_sets = 0
    start = 0
    while True:
        left_page = await source.changes_since(start, _PAGE)
        right_page = await target.changes_since(start, _PAGE)
        if left_page != right_page:
            revisions = [cs.revision for cs in left_page]
            raise CopyMismatch(
                f"the copy's history differs from its source in revisions "
                f"{revisions[:1]}..{revisions[-1:]} (from revision {start})"
            )
        if not left_page:
            break
        change_sets += len(left_page)
        start = left_page[-1].revision + 1
    left_tokens = await source_tokens.changes_since(-1)
    right_tokens = await target_tokens.changes_since(-1)
    if sorted(left_tokens.tokens, key=_name) != sorted(right_tokens.tokens, key=_name) or (
        left_tokens.generation != right_tokens.generation
    ):
        raise CopyMismatch("the copy's tokens differ from its source")
    return CopyReport(
        revision=source_state.revision,
        compact_revision=source_state.compact_revision,
        namespaces=len(source_state.namespaces),
        change_sets=change_sets,
        schema_versions=schema_versions,
        tokens=len(left_tokens.tokens),
        clients=len(clients),
    )


def _name(token: Any) -> str:
    return str(token.name)
