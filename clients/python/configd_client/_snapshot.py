"""Immutable views of watched namespaces: what `get()` reads and what `on_change` receives.

A `_Doc` is one namespace's published (validated) content; a `_View` is every watched namespace
at one revision. The client replaces its `_View` with one reference assignment per applied
revision, so a reader that took a view (or a `Snapshot`) sees all of a change or none of it.
Values are frozen (JSON arrays become tuples, objects read-only mappings): a reader can never
change what other readers share.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TypeVar

from configd_client.wire.jsontext import JSONValue

T = TypeVar("T")


def freeze(value: JSONValue) -> JSONValue:
    """A deep read-only copy: dicts become MappingProxyType, lists become tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: JSONValue) -> JSONValue:
    """A deep mutable copy of a frozen value (plain dicts and lists, as json.loads makes)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


class _Doc:
    """One namespace's published content; never mutated after construction."""

    __slots__ = (
        "create_revision",
        "mod_revision",
        "name",
        "schema_json",
        "schema_version",
        "texts",
        "values",
    )

    def __init__(
        self,
        name: str,
        values: dict[str, JSONValue],
        texts: dict[str, str],
        *,
        create_revision: int,
        mod_revision: int,
        schema_version: int,
        schema_json: str,
    ) -> None:
        self.name = name
        self.values = values  # key -> frozen value
        self.texts = texts  # key -> compact JSON text of the same value
        self.create_revision = create_revision
        self.mod_revision = mod_revision
        self.schema_version = schema_version
        self.schema_json = schema_json


class _View:
    """Every watched namespace as the client sees it at `revision`; replaced, never mutated."""

    __slots__ = ("default", "docs", "revision")

    def __init__(self, revision: int, docs: dict[str, _Doc], default: _Doc | None) -> None:
        self.revision = revision
        self.docs = docs
        # The one namespace's doc when a single exact name is watched, so get() skips a lookup.
        self.default = default


class Snapshot(Mapping[str, JSONValue]):
    """A read-only mapping of one namespace's keys to their values at `revision`.

    `revision` is the client's revision when the snapshot was taken: the namespace had exactly
    these values at that revision (for the last known good document; see `ClientStatus`).
    `mod_revision` is the namespace's last write reflected here, `exists` is False for a watched
    namespace that does not exist (or was deleted). JSON arrays are tuples and objects are
    read-only mappings; `to_dict()` gives a mutable deep copy.
    """

    __slots__ = ("_doc", "_revision")

    def __init__(self, namespace: str, revision: int, doc: _Doc | None) -> None:
        self._revision = revision
        self._doc = doc if doc is not None else _empty_doc(namespace)

    @property
    def namespace(self) -> str:
        return self._doc.name

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def mod_revision(self) -> int:
        return self._doc.mod_revision

    @property
    def schema_version(self) -> int:
        return self._doc.schema_version

    @property
    def exists(self) -> bool:
        return self._doc.create_revision > 0

    def __getitem__(self, key: str) -> JSONValue:
        return self._doc.values[key]

    def get(self, key: str, default: JSONValue = None) -> JSONValue:
        return self._doc.values.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._doc.values

    def __iter__(self) -> Iterator[str]:
        return iter(self._doc.values)

    def __len__(self) -> int:
        return len(self._doc.values)

    def json(self, key: str) -> str:
        """The value's JSON text (exact, compact); KeyError if the key is absent."""
        return self._doc.texts[key]

    def bind(self, cls: type[T]) -> T:
        """A new instance of dataclass `cls` from these values; BindError names a bad field."""
        from configd_client._bind import bind  # _bind uses this module's thaw()

        return bind(cls, self, where=f"namespace {self.namespace!r} to {cls.__name__}")

    def to_dict(self) -> dict[str, JSONValue]:
        """A mutable deep copy of the document (plain dicts and lists)."""
        return {key: thaw(value) for key, value in self._doc.values.items()}

    def __repr__(self) -> str:
        return (
            f"Snapshot(namespace={self.namespace!r}, revision={self._revision}, "
            f"keys={sorted(self._doc.values)!r})"
        )


def _empty_doc(name: str) -> _Doc:
    return _Doc(name, {}, {}, create_revision=0, mod_revision=0, schema_version=0, schema_json="")
