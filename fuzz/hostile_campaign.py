"""A longer hostile-input campaign against a fresh configd, printing its figures.

    python fuzz/hostile_campaign.py --examples 500

Starts `configd serve` (auth on) in a temporary directory, runs every case of fuzz/hostile.py
with --examples inputs each, and prints calls per case and status, the slowest call, the
server's memory before and after, and whether it is still healthy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.hostile import BASE_DOC, CASES, Target
from tests.conftest import ConfigdProcess


def bind(check: Callable[[Target, Any], None], target: Target) -> Callable[[Any], None]:
    def run(value: Any) -> None:
        check(target, value)

    return run


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="inputs per case")
    parser.add_argument("--case", action="append", help="only these cases (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="configd-fuzz-") as tmp:
        # The write rate limit would refuse most inputs before they reach validation.
        server = ConfigdProcess(Path(tmp) / "data", "--max-writes-per-second=1000000", auth=True)
        server.start(timeout=120)
        assert server.process is not None
        target = Target(server.grpc_addr, server.admin_token)
        started = time.monotonic()
        try:
            target.setup()
            rss_before = rss_kib(server.process.pid)
            for name in args.case or sorted(CASES):
                strategy, check = CASES[name]
                case_started = time.monotonic()

                run = settings(
                    max_examples=args.examples,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )(given(strategy)(bind(check, target)))
                run()
                print(
                    f"{name:14} {args.examples} inputs in {time.monotonic() - case_started:.1f} s"
                )
            _, document = target.reference()
            healthy = document == BASE_DOC and server.process.poll() is None
            rss_after = rss_kib(server.process.pid)
        finally:
            target.close()
            logs = server.logs()
            server.stop()
    print(f"total {time.monotonic() - started:.1f} s; slowest call {target.figures.slowest:.3f} s")
    print(f"server RSS {rss_before} KiB before, {rss_after} KiB after")
    print(f"server healthy and reference document intact: {healthy}")
    print(f"internal errors in the server log: {logs.count('internal error')}")
    for key, count in sorted(target.figures.calls.items()):
        print(f"  {key:40} {count}")
    return 0 if healthy and "internal error" not in logs else 1


if __name__ == "__main__":
    sys.exit(main())
