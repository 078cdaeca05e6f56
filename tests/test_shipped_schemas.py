"""The example schemas under schemas/ are valid and mean what they say."""

from pathlib import Path

import pytest

from configd.core.schema import compile_schema

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@pytest.mark.parametrize("path", sorted(SCHEMAS.rglob("*.json")), ids=lambda p: p.name)
def test_shipped_schema_compiles(path: Path) -> None:
    compile_schema(path.read_text())


def test_payments_db_schema_catches_typos_and_bad_values() -> None:
    schema = compile_schema((SCHEMAS / "examples" / "payments-db.json").read_text())
    good = {"dsn": "postgres://db.internal/payments", "pool_size": 20, "ssl_mode": "require"}
    assert schema.violations(good) == ()
    bad = {**good, "pool_sise": 10, "pool_size": 0, "read_replicas": ["r1.internal"]}
    assert sorted((v.path, v.keyword) for v in schema.violations(bad)) == [
        ("/pool_sise", "additionalProperties"),
        ("/pool_size", "minimum"),
        ("/replica_lag_tolerance_ms", "dependentRequired"),
    ]


def test_feature_flags_schema_checks_every_flag() -> None:
    schema = compile_schema((SCHEMAS / "examples" / "feature-flags.json").read_text())
    flags = {"new_checkout": {"enabled": True, "owner": "ana@example.com", "rollout_percent": 5}}
    assert schema.violations(flags) == ()
    flags["Bad-Name"] = {"enabled": "yes", "owner": "x@example.com"}
    # The name pattern is checked on the document's keys, the flag's shape on its value.
    assert sorted((v.path, v.keyword) for v in schema.violations(flags)) == [
        ("", "pattern"),
        ("/Bad-Name/enabled", "type"),
    ]
