"""Binding a namespace's document to a dataclass, with type checks on every field.

Supported field types: str, int, float (an int is accepted), bool, None, Any, Literal, unions
(`X | None`), list/tuple/Sequence, dict/Mapping with str keys, and nested dataclasses. Values
are converted to plain types (a JSON array becomes a list for `list[...]`, a tuple for `tuple`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from configd_client._snapshot import thaw

T = TypeVar("T")


class BindError(TypeError):
    """A document does not fit the dataclass it is bound to."""


def bind(cls: type[T], document: Mapping[str, Any], *, where: str) -> T:
    """An instance of dataclass `cls` built from `document`; BindError names the bad field."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"bind() needs a dataclass type, not {cls!r}")
    result: T = _convert(document, cls, where)
    return result


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _fail(where: str, expected: str, value: Any) -> typing.NoReturn:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise BindError(
        f"configd: cannot bind {where}: expected {expected}, got {type(value).__name__} {shown}"
    )


def _convert(value: Any, tp: Any, where: str) -> Any:
    if tp is Any or tp is object:
        return thaw(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _convert_dataclass(value, tp, where)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        for option in args:
            try:
                return _convert(value, option, where)
            except BindError:
                continue
        _fail(where, " or ".join(_type_name(a) for a in args), value)
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        _fail(where, f"one of {list(args)!r}", value)
    if tp is None or tp is type(None):
        if value is None:
            return None
        _fail(where, "null", value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        _fail(where, "bool", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        _fail(where, "int", value)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        _fail(where, "float", value)
    if tp is str:
        if isinstance(value, str):
            return value
        _fail(where, "str", value)
    container = origin or tp
    if container in (list, tuple, Sequence) or container is typing.Sequence:
        if not isinstance(value, list | tuple):
            _fail(where, "an array", value)
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                _fail(where, f"an array of {len(args)} items", value)
            return tuple(
                _convert(item, arg, f"{where}[{i}]")
                for i, (arg, item) in enumerate(zip(args, value, strict=True))
            )
        item_type = args[0] if args else Any
        items = [_convert(item, item_type, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if container is list or container is Sequence else tuple(items)
    if container in (dict, Mapping) or container is typing.Mapping:
        if not isinstance(value, Mapping):
            _fail(where, "an object", value)
        value_type = args[1] if len(args) == 2 else Any
        return {key: _convert(item, value_type, f"{where}.{key}") for key, item in value.items()}
    raise TypeError(f"configd: cannot bind {where}: unsupported field type {tp!r}")


def _convert_dataclass(value: Any, cls: type[Any], where: str) -> Any:
    if not isinstance(value, Mapping):
        _fail(where, f"an object for {cls.__name__}", value)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in value:
            kwargs[f.name] = _convert(value[f.name], hints[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BindError(f"configd: cannot bind {where}: required key {f.name!r} is missing")
    return cls(**kwargs)
