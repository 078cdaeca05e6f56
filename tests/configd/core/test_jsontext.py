import pytest

from configd.core import jsontext
from configd.core.errors import InvalidArgument


def test_integers_beyond_2_53_keep_every_digit() -> None:
    text = '{"big": 123456789012345678901234567890, "edge": 9007199254740993}'
    value = jsontext.loads(text, field="value_json")
    assert value == {"big": 123456789012345678901234567890, "edge": 9007199254740993}
    assert jsontext.dumps(value) == '{"big":123456789012345678901234567890,"edge":9007199254740993}'


def test_utf8_is_kept_as_is() -> None:
    assert jsontext.dumps(jsontext.loads('"h\\u00e9llo \u2603"', field="v")) == '"héllo ☃"'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{",
            "configd: value_json is not valid JSON: Expecting property name enclosed in "
            "double quotes at line 1 column 2",
        ),
        ("NaN", "configd: value_json is not valid JSON: NaN is not valid JSON"),
        ("[Infinity]", "configd: value_json is not valid JSON: Infinity is not valid JSON"),
        ("", "configd: value_json is not valid JSON: Expecting value at line 1 column 1"),
        ("1 2", "configd: value_json is not valid JSON: Extra data at line 1 column 3"),
        ("[" * 65 + "]" * 65, "configd: value_json is nested too deeply (at most 64 levels)"),
        ("[" * 100_000, "configd: value_json is nested too deeply (at most 64 levels)"),
        (
            '{"a": 1, "b": {"c": 1, "c": 2}}',
            'configd: value_json is not valid JSON: duplicate key "c"',
        ),
    ],
)
def test_malformed_json_is_refused_with_a_readable_message(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        jsontext.loads(text, field="value_json")
    assert str(caught.value) == message
    assert caught.value.violations[0].path == "value_json"


def test_sixty_four_levels_are_allowed() -> None:
    assert jsontext.depth(jsontext.loads("[" * 64 + "]" * 64, field="v")) == 64
