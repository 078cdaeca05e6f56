"""configd_client.wire.names: the key rule, the very one the server raises from."""

from __future__ import annotations

import pytest

from configd.core.errors import InvalidArgument
from configd.core.limits import Limits
from configd.core.names import check_key, check_namespace
from configd_client.wire.names import key_problem, namespace_problem


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("pool_size", None),
        ("größe/🚀", None),
        ("", "key is empty: a key needs at least one character"),
        ("k" * 257, "key is 257 bytes; a key has at most 256"),
        (
            "a\nb",
            "key 'a\\nb' contains the control character U+000A; "
            "keys cannot contain control characters",
        ),
        (
            "a\x85b",
            "key 'a\\x85b' contains the control character U+0085; "
            "keys cannot contain control characters",
        ),
    ],
)
def test_key_problem_is_what_the_server_raises(key: str, problem: str | None) -> None:
    assert key_problem(key) == problem
    if problem is None:
        assert check_key(key, Limits()) == key
    else:
        with pytest.raises(InvalidArgument) as raised:
            check_key(key, Limits())
        assert str(raised.value.detail) == problem


def test_the_limit_and_the_field_name_are_the_callers() -> None:
    assert key_problem("abcd", max_bytes=3, field="its configd key") == (
        "its configd key is 4 bytes; a key has at most 3"
    )


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("payments/prod", None),
        ("", "name is empty: give a namespace name such as 'payments/prod'"),
        ("n" * 201, "name is 201 bytes; a namespace name has at most 200"),
        (
            "Payments/prod",
            "name 'Payments/prod' is not a valid namespace name: use lowercase letters and "
            "digits, '.', '_' and '-' inside a segment, '/' between segments, no empty segment "
            "or '..'",
        ),
    ],
)
def test_namespace_problem_is_what_the_server_raises(name: str, problem: str | None) -> None:
    assert namespace_problem(name) == problem
    if problem is None:
        assert check_namespace(name, Limits()) == name
    else:
        with pytest.raises(InvalidArgument) as raised:
            check_namespace(name, Limits())
        assert str(raised.value.detail) == problem
