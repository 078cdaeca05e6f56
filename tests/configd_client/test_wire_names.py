"""configd_client.wire.names: the name rules, the very ones the server raises from."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from configd.core.errors import InvalidArgument
from configd.core.limits import Limits
from configd.core.names import check_key, check_namespace
from configd_client.wire.names import key_problem, namespace_problem

_CONTROL = "contains the control character U+{}; keys cannot contain control characters"
_BAD_NAME = (
    "is not a valid namespace name: use lowercase letters and digits, '.', '_' and '-' inside "
    "a segment, '/' between segments, no empty segment or '..'"
)


@pytest.mark.parametrize(
    ("problem_of", "check", "name", "problem"),
    [
        (key_problem, check_key, "pool_size", None),
        (key_problem, check_key, "größe/🚀", None),
        (key_problem, check_key, "", "key is empty: a key needs at least one character"),
        (key_problem, check_key, "k" * 257, "key is 257 bytes; a key has at most 256"),
        (key_problem, check_key, "a\nb", "key 'a\\nb' " + _CONTROL.format("000A")),
        (key_problem, check_key, "a\x85b", "key 'a\\x85b' " + _CONTROL.format("0085")),
        (namespace_problem, check_namespace, "payments/prod", None),
        (
            namespace_problem,
            check_namespace,
            "",
            "name is empty: give a namespace name such as 'payments/prod'",
        ),
        (
            namespace_problem,
            check_namespace,
            "n" * 201,
            "name is 201 bytes; a namespace name has at most 200",
        ),
        (namespace_problem, check_namespace, "Payments/x", f"name 'Payments/x' {_BAD_NAME}"),
    ],
)
def test_the_rule_is_what_the_server_raises(
    problem_of: Callable[[str], str | None],
    check: Callable[[str, Limits], str],
    name: str,
    problem: str | None,
) -> None:
    assert problem_of(name) == problem
    if problem is None:
        assert check(name, Limits()) == name
    else:
        with pytest.raises(InvalidArgument) as raised:
            check(name, Limits())
        assert str(raised.value.detail) == problem


def test_the_limit_and_the_field_name_are_the_callers() -> None:
    assert key_problem("abcd", max_bytes=3, field="its configd key") == (
        "its configd key is 4 bytes; a key has at most 3"
    )
