"""The SDK's public surface is exactly what __all__ lists, sorted (as httpx pins its own)."""

from __future__ import annotations

import configd_client


def test_all_is_sorted_and_complete() -> None:
    exported = configd_client.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(configd_client).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("configd_client")
    }
    assert public == set(exported)


def test_the_design_names_are_exported() -> None:
    for name in ("AsyncConfigClient", "ConfigClient", "Snapshot", "ClientStatus", "ConfigdError"):
        assert name in configd_client.__all__
