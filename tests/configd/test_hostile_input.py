"""The hostile-input campaign (fuzz/hostile.py), bounded: a few examples per case.

A longer run: `python fuzz/hostile_campaign.py --examples 500`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configd.testing import ConfigdProcess
from fuzz.hostile import BASE_DOC, CASES, Target


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    # The write rate limit would refuse most inputs before they reach validation.
    server = ConfigdProcess(
        tmp_path_factory.mktemp("hostile") / "data", "--max-writes-per-second=1000000", auth=True
    )
    server.start()
    target = Target(server.grpc_addr, server.admin_token)
    try:
        target.setup()
        yield target
        # Still up, still right.
        _, document = target.reference()
        assert document == BASE_DOC
        assert server.process is not None
        assert server.process.poll() is None
        assert "internal error" not in server.logs()
    finally:
        target.close()
        server.stop()


@pytest.mark.parametrize("case", sorted(CASES))
@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_input(target: Target, case: str, data: st.DataObject) -> None:
    strategy, check = CASES[case]
    check(target, data.draw(strategy))
