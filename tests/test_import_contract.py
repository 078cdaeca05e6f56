"""The import directions between layers (STYLE.md 14), read from the source of every module.

Every `import` counts, at module level or inside a function or an `if TYPE_CHECKING:` block:
a layer that imports another only for a type still depends on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "configd"
CLIENT = ROOT / "clients" / "python" / "configd_client"

GRPC = ("grpc", "grpc_*")
PROTOBUF = ("google.protobuf",)
# What pure rules must not touch: transports, encodings, databases, metrics.
SQLITE = ("sqlite3", "aiosqlite")
IMPURE = (*GRPC, *PROTOBUF, "aiohttp", *SQLITE, "prometheus_client")
# Pure modules of the SDK that configd.core shares instead of copying: its error types, the
# document validator, the strict JSON reader, the limit defaults and the name rules.
SHARED_WITH_CORE = (
    "configd_client.errors",
    "configd_client.wire.schema",
    "configd_client.wire.jsontext",
    "configd_client.wire.limits",
    "configd_client.wire.names",
    "configd_client.wire.labels",
)


@dataclass(frozen=True)
class Rule:
    layer: str
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    # Every layer and shared module must exist: a renamed one must not pass by being empty.
    required: bool = True


# A pattern names a module and everything under it; `grpc_*` is any top-level grpc_ package.
RULES = [
    Rule(
        "configd.core",
        (*IMPURE, "configd", "configd_client"),
        allowed=("configd.core", *SHARED_WITH_CORE),
    ),
    # ...and those stay pure, or core would reach grpc through them.
    *(
        Rule(
            shared,
            (*IMPURE, "configd", "configd_client"),
            allowed=SHARED_WITH_CORE,
        )
        for shared in SHARED_WITH_CORE
    ),
    Rule(
        "configd.storage",
        ("configd.api", "configd.http", "configd.store", "configd.watch", "configd.server"),
    ),
    # SQLite is touched in configd.storage only (its files too: see the storage Protocols).
    Rule(
        "configd.watch",
        ("configd.api", "configd.store", "configd.http", "configd.server", *SQLITE),
    ),
    Rule(
        "configd.store",
        (
            "configd.api",
            "configd.http",
            "configd.server",
            "configd.watch",
            *GRPC,
            *PROTOBUF,
            *SQLITE,
        ),
    ),
    Rule("configd.api", ("configd.http", "configd.server", *SQLITE)),
    Rule("configd.http", ("configd.server", *SQLITE)),
    Rule("configd.server", SQLITE),
    Rule("configd_client", ("configd",)),
]


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported, or `m.name` for `from m import name`
    line: int

    def __str__(self) -> str:
        return f"{self.module} imports {self.target} (line {self.line})"


def module_name(path: Path) -> str:
    base = SERVER.parent if path.is_relative_to(SERVER) else CLIENT.parent
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: Path) -> Iterator[Path]:
    for path in sorted(package.rglob("*.py")):
        # Generated code imports only protobuf and grpc; scripts/gen_protos.py owns it.
        if "proto" not in path.relative_to(package).parts[:2]:
            yield path


def imports_of(source: str, module: str, *, is_package: bool) -> Iterator[Import]:
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source_module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source_module = node.module or ""
            # `from m import x` as `m.x`: x may be a module (`from configd_client import _client`)
            # and a rule on `m` still matches `m.x`.
            for alias in node.names:
                name = "" if alias.name == "*" else f".{alias.name}"
                yield Import(module, source_module + name, node.lineno)


def all_imports(package: Path) -> list[Import]:
    return [
        found
        for path in modules(package)
        for found in imports_of(
            path.read_text(), module_name(path), is_package=path.name == "__init__.py"
        )
    ]


def matches(target: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return target.split(".")[0].startswith(pattern[:-1])
    return target == pattern or target.startswith(pattern + ".")


def violations(rule: Rule, found: list[Import]) -> list[Import]:
    return [
        imp
        for imp in found
        if matches(imp.module, rule.layer)
        and any(matches(imp.target, p) for p in rule.forbidden)
        and not any(matches(imp.target, p) for p in rule.allowed)
    ]


@pytest.fixture(scope="module")
def every_import() -> list[Import]:
    return all_imports(SERVER) + all_imports(CLIENT)


@pytest.mark.parametrize("rule", RULES, ids=[rule.layer for rule in RULES])
def test_layer_imports_point_one_way(rule: Rule, every_import: list[Import]) -> None:
    # A layer that moved or was renamed must not pass by having no modules.
    if rule.required:
        assert any(matches(imp.module, rule.layer) for imp in every_import), rule.layer
    found = violations(rule, every_import)
    assert not found, "\n".join(map(str, found))


def _is_private(name: str) -> bool:
    # `__init__`, `__version__`: dunders are public.
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_the_server_imports_only_public_names_of_the_sdk(every_import: list[Import]) -> None:
    private = [
        imp
        for imp in every_import
        if matches(imp.module, "configd")
        and matches(imp.target, "configd_client")
        and any(_is_private(part) for part in imp.target.split("."))
    ]
    assert not private, "\n".join(map(str, private))


def test_the_checker_sees_nested_relative_and_from_imports() -> None:
    # The rules above pass only if this reader would have seen a violation.
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ..store import service\n"
        "def f() -> None:\n"
        "    import grpc.aio\n"
        "    from configd_client import _client\n"
    )
    found = list(imports_of(source, "configd.core.names", is_package=False))
    core = next(rule for rule in RULES if rule.layer == "configd.core")
    assert [str(imp) for imp in violations(core, found)] == [
        "configd.core.names imports configd.store.service (line 4)",
        "configd.core.names imports grpc.aio (line 6)",
        "configd.core.names imports configd_client._client (line 7)",
    ]
    assert module_name(SERVER / "core" / "__init__.py") == "configd.core"
    assert module_name(CLIENT / "wire" / "schema.py") == "configd_client.wire.schema"
    assert [_is_private(part) for part in ("_state", "__init__", "__version__", "wire")] == [
        True,
        False,
        False,
        False,
    ]
