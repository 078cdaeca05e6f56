"""`configctl history`: table, key filter, paging, machine output."""

from __future__ import annotations

import json

from cli_helpers import Configctl, lines


def test_history_table_and_key_filter(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns, "-m", "born")
    configctl.ok("put", ns, "a", "1", "-m", "set a")
    configctl.ok("put", ns, "b", "2", "-m", "set b")
    table = lines(configctl.ok("history", ns).stdout)
    assert table[0].split() == ["REVISION", "TIME", "AUTHOR", "KIND", "MESSAGE", "KEYS"]
    assert [row.split()[3] for row in table[1:]] == ["put", "put", "create-namespace"]
    assert table[1].split()[-3:] == ["set", "b", "b"]
    only_a = json.loads(configctl.ok("history", ns, "a", "-o", "json").stdout)
    assert [e["message"] for e in only_a["entries"]] == ["set a"]
    assert only_a["entries"][0]["changes"] == [{"key": "a", "op": "add", "new": 1}]
    assert only_a["entries"][0]["time"].endswith("Z")
    detailed = configctl.ok("history", ns, "b", "--diff").stdout
    assert "  + b: 2" in detailed


def test_history_pages(configctl: Configctl, ns: str) -> None:
    configctl.ok("ns", "create", ns)
    for value in range(3):
        configctl.ok("put", ns, "k", str(value))
    first = configctl.ok("history", ns, "-n", "2", "-o", "json")
    page = json.loads(first.stdout)
    assert [e["changes"][0].get("new") for e in page["entries"]] == [2, 1]
    assert page["next_page_token"]
    second = configctl.ok("history", ns, "-n", "2", "--page-token", page["next_page_token"])
    assert len(lines(second.stdout)) == 3  # header, the first put, the creation
    human = configctl.ok("history", ns, "-n", "2")
    assert human.errors[-1].startswith(f"more entries: configctl history {ns} --page-token ")
    everything = json.loads(configctl.ok("history", ns, "-n", "1", "--all", "-o", "json").stdout)
    assert len(everything["entries"]) == 4
    assert everything["next_page_token"] == ""


def test_history_of_unknown_namespace(configctl: Configctl, ns: str) -> None:
    run = configctl("history", ns)
    assert run.code == 5
