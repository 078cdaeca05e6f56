"""Roles per namespace prefix: what a token may do, and the one check of it."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Role(enum.IntEnum):
    """Each role includes the ones below it (admin > write > read)."""

    READ = 1
    WRITE = 2
    ADMIN = 3


@dataclass(frozen=True, slots=True)
class Grant:
    """`role` on every namespace whose name starts with `prefix` ("" = every namespace).

    Prefixes match names textually, as watch prefixes do: end a prefix with "/" to mean a
    subtree ("payments/" does not cover "payments-eu/x"; "payments" would)."""

    prefix: str
    role: Role


def covers(grants: Iterable[Grant], role: Role, scope: str) -> bool:
    """Whether `grants` give at least `role` on `scope`: a namespace name, or a name prefix
    (then on every name it can start)."""
    return any(g.role >= role and scope.startswith(g.prefix) for g in grants)


def covers_some(grants: Iterable[Grant], role: Role, prefix: str) -> bool:
    """Whether `grants` give `role` on at least one name that starts with `prefix`."""
    return any(
        g.role >= role and (prefix.startswith(g.prefix) or g.prefix.startswith(prefix))
        for g in grants
    )
