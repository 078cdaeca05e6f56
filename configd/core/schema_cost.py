"""A static bound on the work one schema can cause, checked when it is uploaded.

Validation cost is (values in the document) x (subschemas applied to each value). Documents
are bounded by size and depth limits; this bounds the second factor. `allOf`, `anyOf`, `oneOf`,
`not`, `if`/`then`/`else`, `dependentSchemas` and `$ref` apply subschemas to the *same* value,
so repeating a `$ref` in them multiplies: 30 levels of `allOf: [$ref next, $ref next]` is 2**30
evaluations per value, which hangs the validator. A `$ref` cycle through those keywords alone
never descends into the document and never ends. Both are refused here.

How: for every path into a document (property names, array positions, property names as
strings), count the subschemas that apply to the value at that path, merging paths that lead
to the same set of subschemas, down to the document depth limit. Weights: one per subschema,
plus one per 64 members of an `enum` (each value is compared with the members).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from configd.core.errors import InvalidSchema
from configd.core.jsontext import MAX_DEPTH

MAX_EVALUATIONS = 10_000  # weighted subschemas applied to one value
MAX_FRONTIERS = 200_000  # distinct (path class, subschema set) states explored

_SAME_LISTS = ("allOf", "anyOf", "oneOf")
_SAME_ONE = ("not", "if", "then", "else")
_CHILD_WILD = {
    "additionalProperties": "p",
    "unevaluatedProperties": "p",
    "items": "i",
    "contains": "i",
    "unevaluatedItems": "i",
    "propertyNames": "k",
}

Counts = dict[int, int]


class _Index:
    """Every object subschema by id, and $ref resolution inside the one document."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.nodes: dict[int, dict[str, Any]] = {}
        self.anchors: dict[str, Any] = {}
        self.ids: dict[str, Any] = {}
        stack = [root]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                self.nodes[id(item)] = item
                for keyword in ("$anchor", "$dynamicAnchor"):
                    if isinstance(item.get(keyword), str):
                        self.anchors.setdefault(item[keyword], item)
                if isinstance(item.get("$id"), str):
                    self.ids[item["$id"].rstrip("#")] = item
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)

    def resolve(self, ref: str) -> Any:
        base, _, fragment = ref.partition("#")
        node = self.ids.get(base.rstrip("/"), self.root) if base else self.root
        if base and base.rstrip("/") not in self.ids:
            return None
        if not fragment:
            return node
        if not fragment.startswith("/"):
            return self.anchors.get(fragment)
        for part in fragment[1:].split("/"):
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node


def _same(node: dict[str, Any], index: _Index) -> Iterator[Any]:
    """Subschemas applied to the same value as `node`."""
    for keyword in _SAME_LISTS:
        members = node.get(keyword)
        if isinstance(members, list):
            yield from members
    for keyword in _SAME_ONE:
        if keyword in node:
            yield node[keyword]
    dependent = node.get("dependentSchemas")
    if isinstance(dependent, dict):
        yield from dependent.values()
    for keyword in ("$ref", "$dynamicRef"):
        ref = node.get(keyword)
        if isinstance(ref, str):
            target = index.resolve(ref)
            if target is not None:
                yield target


def _children(node: dict[str, Any]) -> Iterator[tuple[str, str | None, Any]]:
    """(kind, name, subschema): kind p = property, i = array item, k = property name;
    name None = any property / item."""
    properties = node.get("properties")
    if isinstance(properties, dict):
        for name, sub in properties.items():
            yield "p", name, sub
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict):
        for sub in patterns.values():
            yield "p", None, sub
    prefix = node.get("prefixItems")
    if isinstance(prefix, list):
        for position, sub in enumerate(prefix):
            yield "i", str(position), sub
    for keyword, kind in _CHILD_WILD.items():
        if keyword in node:
            yield kind, None, node[keyword]


def _weight(node: Any) -> int:
    if isinstance(node, dict) and isinstance(node.get("enum"), list):
        return 1 + len(node["enum"]) // 64
    return 1


class _Bound:
    def __init__(self, schema: Any) -> None:
        self.index = _Index(schema)
        self._closures: dict[int, Counts] = {}
        self._visiting: list[int] = []

    def _too_expensive(self, total: int, path: str) -> InvalidSchema:
        return InvalidSchema(
            f"schema_json is too expensive to evaluate: the value at {path or '/'} would be "
            f"checked against {total} or more subschemas (at most {MAX_EVALUATIONS}); "
            "allOf/anyOf/oneOf over the same $ref multiply at each level: reference a "
            "shared definition once instead",
            field="schema_json",
        )

    def closure(self, node: Any, path: str) -> Counts:
        """The subschemas (with multiplicity) applied to one value when `node` is."""
        if not isinstance(node, dict):
            return {}
        key = id(node)
        cached = self._closures.get(key)
        if cached is not None:
            return cached
        if key in self._visiting:
            raise InvalidSchema(
                "schema_json has a $ref cycle that never descends into the document (through "
                "$ref, allOf, anyOf, oneOf, not, if/then/else or dependentSchemas only): "
                "validating it would never end; make each recursive $ref go through "
                "properties or items",
                field="schema_json",
            )
        self._visiting.append(key)
        counts: Counts = {key: 1}
        total = _weight(node)
        for target in _same(node, self.index):
            for member, count in self.closure(target, path).items():
                counts[member] = counts.get(member, 0) + count
                total += count * _weight(self.index.nodes[member])
            if total > MAX_EVALUATIONS:
                raise self._too_expensive(total, path)
        self._visiting.pop()
        self._closures[key] = counts
        return counts

    def total(self, counts: Counts) -> int:
        return sum(count * _weight(self.index.nodes[n]) for n, count in counts.items())

    def check(self) -> None:
        root = self.index.root
        start = self.closure(root, "")
        stack: list[tuple[Counts, int, str]] = [(start, 0, "")]
        seen: set[tuple[frozenset[tuple[int, int]], int]] = set()
        while stack:
            counts, depth, path = stack.pop()
            state = (frozenset(counts.items()), depth)
            if state in seen or depth > MAX_DEPTH:
                continue
            seen.add(state)
            if len(seen) > MAX_FRONTIERS:
                raise InvalidSchema(
                    "schema_json is too complex to bound its cost; split it or simplify its $refs",
                    field="schema_json",
                )
            named: dict[tuple[str, str], Counts] = {}
            wild: dict[str, Counts] = {}
            for member, count in counts.items():
                for kind, name, sub in _children(self.index.nodes[member]):
                    step = f"{path}/{name if name is not None else '*'}"
                    bucket = (
                        wild.setdefault(kind, {})
                        if name is None
                        else named.setdefault((kind, name), {})
                    )
                    for target, times in self.closure(sub, step).items():
                        bucket[target] = bucket.get(target, 0) + times * count
            pushes: list[tuple[Counts, int, str]] = []
            for (kind, name), bucket in named.items():
                for target, times in wild.get(kind, {}).items():
                    bucket[target] = bucket.get(target, 0) + times
                pushes.append((bucket, depth + 1, f"{path}/{name}"))
            pushes.extend((bucket, depth + 1, f"{path}/*") for bucket in wild.values())
            for bucket, _, step in pushes:
                total = self.total(bucket)
                if total > MAX_EVALUATIONS:
                    raise self._too_expensive(total, step)
            stack.extend(pushes)


def check_cost(schema: Any) -> None:
    """Raise InvalidSchema if validating against `schema` could hang (see module doc)."""
    if isinstance(schema, dict):
        _Bound(schema).check()
