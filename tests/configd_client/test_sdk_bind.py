"""Binding a namespace's document to a dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from configd_client import BindError
from configd_client._bind import bind
from configd_client._snapshot import freeze


@dataclass
class Limits:
    rps: int
    burst: int = 10


@dataclass
class Settings:
    host: str
    port: int
    ratio: float
    debug: bool
    mode: Literal["fast", "safe"]
    tags: list[str]
    pair: tuple[int, str]
    limits: Limits
    extra: dict[str, Any]
    note: str | None = None
    seen: list[int] = field(default_factory=list)


DOC = {
    "host": "db",
    "port": 5432,
    "ratio": 1,
    "debug": False,
    "mode": "safe",
    "tags": ["a", "b"],
    "pair": [1, "x"],
    "limits": {"rps": 100},
    "extra": {"k": [1, {"z": 2}]},
    "unknown_keys": "are ignored",
}


def test_binds_and_converts_frozen_values() -> None:
    settings = bind(Settings, freeze(DOC), where="ns")
    assert settings == Settings(
        host="db",
        port=5432,
        ratio=1.0,
        debug=False,
        mode="safe",
        tags=["a", "b"],
        pair=(1, "x"),
        limits=Limits(rps=100, burst=10),
        extra={"k": [1, {"z": 2}]},
    )
    assert isinstance(settings.ratio, float)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": "5432"}, "cannot bind ns.port: expected int, got str '5432'"),
        ({"port": True}, "cannot bind ns.port: expected int, got bool True"),
        ({"mode": "slow"}, "cannot bind ns.mode: expected one of ['fast', 'safe'], got str"),
        ({"tags": ["a", 1]}, "cannot bind ns.tags[1]: expected str, got int 1"),
        ({"limits": {"burst": 1}}, "cannot bind ns.limits: required key 'rps' is missing"),
        ({"note": 3}, "cannot bind ns.note: expected str or NoneType, got int 3"),
    ],
)
def test_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(BindError) as info:
        bind(Settings, freeze({**DOC, **change}), where="ns")
    assert str(info.value).startswith(f"configd: {message}")


def test_only_dataclasses() -> None:
    with pytest.raises(TypeError, match="needs a dataclass"):
        bind(dict, {}, where="ns")
