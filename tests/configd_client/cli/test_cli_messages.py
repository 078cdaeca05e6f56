"""configctl speaks its own terms (issue 18, points 9-11): verbs and flags, not RPC or proto
field names; exit codes as `--help` documents them; each violation printed once."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Configctl, write

from configd_client.cli import cli
from configd_client.cli.exits import EXIT_CODES_HELP
from configd_client.wire import limits


def test_a_missing_namespace_names_the_verb_that_creates_it(configctl: Configctl, ns: str) -> None:
    run = configctl("put", ns, "k", "1")
    assert run.code == 5
    assert run.errors == [
        f"Error: namespace {ns!r} does not exist; create it first with `configctl ns create {ns}`"
    ]


def test_an_oversized_value_names_the_value_and_the_serve_flag(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    configctl.ok("ns", "create", ns)
    big = write(tmp_path, "big.json", json.dumps("x" * limits.MAX_VALUE_BYTES))
    run = configctl("put", ns, "k", f"@{big}")
    assert run.code == 8
    size = limits.MAX_VALUE_BYTES + 2
    assert run.errors == [
        f"Error: the value is {size} bytes, over the limit of {limits.MAX_VALUE_BYTES} bytes; "
        "store less or raise the limit with `configd serve --max-value-bytes`"
    ]


def test_a_bad_key_in_an_applied_document_says_key_not_document_json(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    configctl.ok("ns", "create", ns)
    doc = write(tmp_path, "doc.json", json.dumps({"a\tb": 1}))
    run = configctl("apply", ns, "-f", doc, "-y")
    assert run.code == 4
    assert len(run.errors) == 1
    assert "document_json" not in run.stderr
    assert run.errors[0].startswith("Error: key 'a\\tb' of the document ")


def test_a_missing_revision_exits_5_as_help_documents(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "k", "1")
    assert "  5  not found: namespace, key or revision" in EXIT_CODES_HELP
    assert EXIT_CODES_HELP in (cli.help or "")
    for args in (("rollback", ns, "--to", "999999", "-y"), ("get", ns, "--revision", "999999")):
        run = configctl(*args)
        assert run.code == 5, (args, run)
        assert run.errors[0].startswith("Error: revision 999999 has not been written yet")


def test_schema_violations_are_printed_once(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    schema = write(
        tmp_path,
        "s.json",
        json.dumps(
            {
                "type": "object",
                "properties": {"n": {"type": "integer"}, "e": {"format": "email"}},
            }
        ),
    )
    configctl.ok("ns", "create", ns, "--schema", schema)
    one = configctl("put", ns, "n", '"x"')
    assert one.code == 4
    assert one.errors == [
        f"Error: the resulting document of namespace {ns!r} does not satisfy the namespace "
        'schema: /n: "x" is not of type "integer" (keyword \'type\'); nothing was stored'
    ]
    doc = write(tmp_path, "doc.json", json.dumps({"n": "x", "e": "bad"}))
    two = configctl("apply", ns, "-f", doc, "-y")
    assert two.code == 4
    assert two.stderr.count("is not of type") == 1
    assert two.stderr.count("email") == 1


def test_a_format_violation_reads_as_english(configctl: Configctl, ns: str, tmp_path: Path) -> None:
    schema = write(
        tmp_path, "s.json", json.dumps({"type": "object", "properties": {"e": {"format": "email"}}})
    )
    configctl.ok("ns", "create", ns, "--schema", schema)
    run = configctl("put", ns, "e", '"bad"')
    assert run.code == 4
    assert run.errors[0].endswith(
        "/e: \"bad\" does not match the format 'email' (keyword 'format'); nothing was stored"
    )


def test_long_values_are_shortened_in_tables_and_diffs_and_whole_in_json(
    configctl: Configctl, ns: str, tmp_path: Path
) -> None:
    """Issue 18 point 10: a 200 KB value must not make every table row 200 KB wide."""
    configctl.ok("ns", "create", ns)
    big = "x" * 200_000
    configctl.ok("put", ns, "big", f"@{write(tmp_path, 'big.json', json.dumps(big))}")
    configctl.ok("put", ns, "small", "1")
    hint = "more characters; -o json shows it whole)"
    table = configctl.ok("get", ns).stdout.splitlines()
    assert max(len(line) for line in table) < 400
    assert [row.split()[0] for row in table] == ["KEY", "big", "small"]
    assert f"... ({200_002 - 200} {hint}" in table[1]
    assert json.loads(configctl.ok("get", ns, "-o", "json").stdout)["document"]["big"] == big
    # The diff of a new long value, and of a changed one, shows the start of each line.
    doc = write(tmp_path, "doc.json", json.dumps({"big": big + "y", "small": 1, "new": big}))
    diff = configctl("diff", ns, "-f", doc)
    assert diff.code == 1
    assert max(len(line) for line in diff.stdout.splitlines()) < 400
    assert diff.stdout.count(hint) == 3  # the new key, and the changed key's old and new line
    whole = json.loads(configctl("diff", ns, "-f", doc, "-o", "json").stdout)
    assert big in json.dumps(whole)


def test_a_token_against_a_no_auth_server_is_called_out(configctl: Configctl, ns: str) -> None:
    """Issue 18 point 11: --token, and `token create`, do nothing on a --no-auth server."""
    configctl.ok("ns", "create", ns)
    configctl.ok("put", ns, "k", "1")
    where = f"warning: the server at {configctl.addr} runs with --no-auth"
    run = configctl.ok("--token", "s3cret", "get", ns)
    assert run.errors == [f"{where}: --token (CONFIGD_TOKEN) is not checked"]
    created = configctl.ok("token", "create", "ci", "--grant", "read")
    assert created.errors == [
        f"{where}: this token is not checked until the server runs with authentication"
    ]
    assert configctl.ok("get", ns).errors == []


def test_addr_on_the_http_port_says_where_grpc_is(shared_server: object) -> None:
    """Issue 18 point 11: no HTTP/2 parse noise, but what the port is and where gRPC is."""
    grpc_addr = shared_server.grpc_addr  # type: ignore[attr-defined]
    http = Configctl(shared_server.http_addr)  # type: ignore[attr-defined]
    run = http("ns", "list")
    assert run.code == 3
    assert run.errors == [
        f"Error: cannot reach configd at {http.addr}: this looks like configd's HTTP port "
        f"(console, gRPC-Web); gRPC is on {grpc_addr}: use --addr {grpc_addr}"
    ]
