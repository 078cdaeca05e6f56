import pytest

from configd.core.errors import InvalidArgument
from configd.core.limits import Limits
from configd.core.names import check_key, check_namespace, check_prefix

LIMITS = Limits()


@pytest.mark.parametrize(
    "name", ["payments", "payments/prod", "search.ranker", "a", "a-b_c.d/e0", "x" * 200]
)
def test_valid_namespace_names(name: str) -> None:
    assert check_namespace(name, LIMITS) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Payments",
        "a//b",
        "/a",
        "a/",
        "a/../b",
        "a..b",
        "-a",
        "a-",
        ".a",
        "a b",
        "a\x00b",
        "é",
        "x" * 201,
        "a/./b",
        "a\nb",
    ],
)
def test_invalid_namespace_names(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_namespace(name, LIMITS)
    assert caught.value.violations[0].path == "name"


def test_namespace_name_message_says_what_is_allowed() -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_namespace("Bad/Name", LIMITS)
    assert str(caught.value) == (
        "configd: name 'Bad/Name' is not a valid namespace name: use lowercase letters and "
        "digits, '.', '_' and '-' inside a segment, '/' between segments, no empty segment "
        "or '..'"
    )


@pytest.mark.parametrize("key", ["a", "Key With Spaces", "ünïcödé", "a/b", "k" * 256])
def test_valid_keys(key: str) -> None:
    assert check_key(key, LIMITS) == key


@pytest.mark.parametrize("key", ["", "a\x00", "tab\there", "\x7f", "k" * 257, "\ud800"])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidArgument):
        check_key(key, LIMITS)


@pytest.mark.parametrize("prefix", ["", "pay", "payments/", "a.b-"])
def test_valid_prefixes(prefix: str) -> None:
    assert check_prefix(prefix, LIMITS) == prefix


@pytest.mark.parametrize("prefix", ["A", "a b", "\x00"])
def test_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidArgument):
        check_prefix(prefix, LIMITS)
