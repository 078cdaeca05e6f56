"""The one strict JSON reader: what it refuses, with the reason the server and configctl give."""

from __future__ import annotations

import pytest

from configd_client.wire import jsontext
from configd_client.wire.limits import MAX_JSON_DEPTH


@pytest.mark.parametrize(
    ("text", "reason", "described"),
    [
        ('{"a": 1, "a": 2}', 'duplicate key "a"', 'value is not valid JSON: duplicate key "a"'),
        ('[{"é": 1, "é": 1}]', 'duplicate key "é"', 'value is not valid JSON: duplicate key "é"'),
        ("[NaN]", "NaN is not valid JSON", "value is not valid JSON: NaN is not valid JSON"),
        (
            "-Infinity",
            "-Infinity is not valid JSON",
            "value is not valid JSON: -Infinity is not valid JSON",
        ),
        (
            "[1.5, -2e999]",
            "the number -2e999 is beyond the range of a double (about 1.8e308)",
            "value is not valid JSON: the number -2e999 is beyond the range of a double "
            "(about 1.8e308)",
        ),
        ("{", "Expecting property name enclosed in double quotes at line 1 column 2", None),
        (
            "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
            "nested too deeply (at most 64 levels)",
            "value is nested too deeply (at most 64 levels)",
        ),
    ],
)
def test_refused_text_names_the_reason(text: str, reason: str, described: str | None) -> None:
    with pytest.raises(jsontext.JSONTextError) as caught:
        jsontext.loads(text)
    assert str(caught.value) == reason
    if described is not None:
        assert caught.value.describe("value") == described


def test_exact_integers_and_utf8_round_trip() -> None:
    text = '{"big":123456789012345678901234567890,"name":"héllo ☃","same":{"a":1}}'
    assert jsontext.dumps(jsontext.loads(text)) == text


def test_the_same_key_in_different_objects_is_fine() -> None:
    assert jsontext.loads('{"a": {"a": 1}, "b": {"a": 2}}') == {"a": {"a": 1}, "b": {"a": 2}}


def test_a_decimal_is_read_as_a_double_and_written_back_shortest() -> None:
    """What architecture.md promises: integers keep every digit, decimals become doubles."""
    assert jsontext.dumps(jsontext.loads("[1.10, 1E2, -0.0, 2.5e-3]")) == "[1.1,100.0,-0.0,0.0025]"
