"""The pure pieces of configctl: input parsing, diff rendering, tables, exit codes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from cli_helpers import write

from configd_client.cli import diffs, documents, output
from configd_client.cli.exits import CliFailure, ExitCode, exit_code_for
from configd_client.errors import (
    AlreadyExists,
    ConfigdError,
    KeyNotFound,
    NamespaceNotEmpty,
    SchemaViolation,
    Unavailable,
)


def message_for(exc: pytest.ExceptionInfo[CliFailure]) -> str:
    return exc.value.message


def test_yaml_integers_are_exact_and_yaml_11_booleans_documented(tmp_path: Path) -> None:
    path = write(tmp_path, "d.yaml", "big: 123456789012345678901234567890\nflag: yes\n")
    assert documents.load_document(path) == {"big": 123456789012345678901234567890, "flag": True}


def test_non_string_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.yaml", "on: 1\n")
    with pytest.raises(CliFailure) as exc:
        documents.load_document(path)
    assert message_for(exc) == (
        f"{path}: at /: key True is a bool, not a string (YAML reads unquoted yes/no/on/off "
        "and numbers as such; quote it)"
    )


def test_empty_yaml_is_not_a_document(tmp_path: Path) -> None:
    path = write(tmp_path, "d.yaml", "")
    with pytest.raises(CliFailure) as exc:
        documents.load_document(path)
    assert message_for(exc).endswith("not null (empty document)")
    assert exc.value.exit_code == ExitCode.USAGE


def test_value_argument() -> None:
    assert documents.value_argument('{"a": [1, 2.5, null]}') == '{"a":[1,2.5,null]}'
    assert documents.value_argument('"ünï"') == '"ünï"'
    with pytest.raises(CliFailure):
        documents.value_argument("Infinity")


def test_diff_rendering() -> None:
    changes = [
        diffs.KeyDiff("b", '{"x":1}', None),
        diffs.KeyDiff("a", None, '"new"'),
        diffs.KeyDiff("c", "1", "2"),
        diffs.KeyDiff("d", '{"k":' + '"' + "v" * 80 + '","n":1}', '{"k":"' + "v" * 80 + '","n":2}'),
    ]
    rendered = diffs.render(sorted(changes, key=lambda d: d.key))
    assert [click_unstyle(line) for line in rendered] == [
        '+ a: "new"',
        '- b: {"x": 1}',
        "~ c:",
        "-   1",
        "+   2",
        "~ d:",
        "    @@ -1,4 +1,4 @@",
        "    {",
        f'      "k": "{"v" * 80}",',
        '-     "n": 1',
        '+     "n": 2',
        "    }",
    ]
    assert diffs.summary(changes) == "1 to add, 2 to change, 1 to remove"


def click_unstyle(text: str) -> str:
    return click.unstyle(text)


def test_table_alignment() -> None:
    assert output.table(["A", "LONGER"], [["xxx", 1], ["y", "multi\nline"]]).splitlines() == [
        "A    LONGER",
        "xxx  1",
        "y    multi\\nline",
    ]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (Unavailable("down"), ExitCode.UNREACHABLE),
        (SchemaViolation("bad"), ExitCode.INVALID),
        (KeyNotFound("gone"), ExitCode.NOT_FOUND),
        (NamespaceNotEmpty("keys"), ExitCode.CONFLICT),
        (AlreadyExists("twice"), ExitCode.CONFLICT),
        (ConfigdError("boom"), ExitCode.SERVER),
    ],
)
def test_exit_codes(error: ConfigdError, code: ExitCode) -> None:
    assert exit_code_for(error) is code
