"""The pure pieces of configctl: input parsing, diff rendering, tables, exit codes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from cli_helpers import write

from configd_client import errors
from configd_client.cli import diffs, documents, output
from configd_client.cli.exits import (
    EXIT_CODES_HELP,
    CliFailure,
    ExitCode,
    exit_code_for,
    failure_from,
)
from configd_client.errors import ConfigdError


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


# Every error type the SDK defines, with the exit code scripts rely on.
EXIT_CODE_OF: dict[type[ConfigdError], ExitCode] = {
    errors.ConfigdError: ExitCode.SERVER,
    errors.InvalidArgument: ExitCode.INVALID,
    errors.SchemaViolation: ExitCode.INVALID,
    errors.InvalidSchema: ExitCode.INVALID,
    errors.PreconditionFailed: ExitCode.CONFLICT,
    errors.NamespaceNotEmpty: ExitCode.CONFLICT,
    errors.ReleaseRunning: ExitCode.CONFLICT,
    errors.NoRunningRelease: ExitCode.CONFLICT,
    errors.CheckRefused: ExitCode.INVALID,
    errors.ReplicaBehind: ExitCode.CONFLICT,  # a compaction past a lagging replica
    errors.NotFound: ExitCode.NOT_FOUND,
    errors.NamespaceNotFound: ExitCode.NOT_FOUND,
    errors.KeyNotFound: ExitCode.NOT_FOUND,
    errors.AlreadyExists: ExitCode.CONFLICT,
    errors.LimitExceeded: ExitCode.SERVER,
    errors.RevisionCompacted: ExitCode.SERVER,
    errors.FutureRevision: ExitCode.NOT_FOUND,  # a revision not written yet: "not found"
    errors.Unauthenticated: ExitCode.DENIED,
    errors.PermissionDenied: ExitCode.DENIED,
    errors.Unavailable: ExitCode.UNREACHABLE,
    errors.StorageFailure: ExitCode.UNREACHABLE,
    errors.RevisionNotApplied: ExitCode.UNREACHABLE,  # unavailable: retry
    errors.StoreRegressed: ExitCode.UNREACHABLE,  # this server refuses: another one
    errors.InternalError: ExitCode.SERVER,
}


def _error_types() -> set[type[ConfigdError]]:
    return {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, ConfigdError)
    }


def test_the_exit_code_table_covers_every_error_type() -> None:
    assert set(EXIT_CODE_OF) == _error_types()


@pytest.mark.parametrize(
    ("cls", "code"), EXIT_CODE_OF.items(), ids=lambda v: getattr(v, "__name__", str(v))
)
def test_exit_code_of_each_error_type(cls: type[ConfigdError], code: ExitCode) -> None:
    assert exit_code_for(cls.__new__(cls)) is code


@pytest.mark.parametrize(
    ("status_code", "code"),
    [
        ("DEADLINE_EXCEEDED", ExitCode.UNREACHABLE),
        ("INVALID_ARGUMENT", ExitCode.INVALID),
        ("RESOURCE_EXHAUSTED", ExitCode.SERVER),
        ("INTERNAL", ExitCode.SERVER),
        ("UNKNOWN", ExitCode.SERVER),
    ],
)
def test_an_untyped_server_error_goes_by_its_status_code(status_code: str, code: ExitCode) -> None:
    plain = ConfigdError("boom")
    plain.code = status_code  # type: ignore[misc]  # as wire.status does for untyped errors
    assert exit_code_for(plain) is code


def test_every_exit_code_is_documented_in_help() -> None:
    documented = {int(line.split()[0]) for line in EXIT_CODES_HELP.splitlines()[2:]}
    assert documented == {int(code) for code in ExitCode}


def test_counted_agrees_in_number() -> None:
    assert [output.counted(n, "namespace") for n in (0, 1, 2)] == [
        "0 namespaces",
        "1 namespace",
        "2 namespaces",
    ]


def test_shorten_keeps_short_text_and_says_what_it_leaves_out() -> None:
    assert output.shorten("abc", 5) == "abc"
    assert output.shorten("abcdefg", 5) == "abcde... (2 more characters; -o json shows it whole)"
    assert output.shorten_lines(["a", "b", "c"], 2) == [
        "a",
        "b",
        "... (1 more lines; -o json shows it whole)",
    ]


def test_schema_violations_beyond_the_first_are_listed_once() -> None:
    first = errors.FieldViolation("/a", "type", '"x" is not of type "integer"')
    second = errors.FieldViolation("/b", "type", '1 is not of type "string"')
    error = errors.SchemaViolation(
        f"the document does not satisfy the schema: /a: {first.message} (and 1 more); "
        "nothing was stored",
        violations=[first, second],
    )
    failure = failure_from(error, addr="x:1")
    assert failure.message == error.detail
    assert failure.details == ('/b: 1 is not of type "string"',)
