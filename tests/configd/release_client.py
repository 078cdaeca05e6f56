"""A service using the SDK, run as its own process by the release tests.

    python release_client.py --addr HOST:PORT --namespace NS --client-id ID \
        [--label zone=eu ...] [--refuse-above KEY=N]

It watches NS with ConfigClient (labels, a client id), and with --refuse-above registers a
check that vetoes any snapshot whose KEY is above N. Every document its readers can see is
printed as one JSON line {"revision": R, "doc": {...}} (first the initial one, then after each
swap), and after each swap the test can check that no line ever showed a vetoed value. Runs
until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from configd_client import ConfigClient, Snapshot


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("--refuse-above", default="")
    args = parser.parse_args()
    labels = dict(item.split("=", 1) for item in args.label)
    lock = threading.Lock()

    def show(snapshot: Snapshot) -> None:
        with lock:
            print(
                json.dumps({"revision": snapshot.revision, "doc": snapshot.to_dict()}),
                flush=True,
            )

    with ConfigClient(
        args.namespace, addr=args.addr, client_id=args.client_id, labels=labels
    ) as config:
        if args.refuse_above:
            key, _, limit = args.refuse_above.partition("=")

            def check(snapshot: Snapshot) -> bool:
                value: Any = snapshot.get(key, 0)
                if value > int(limit):
                    raise ValueError(f"{key} {value} is above {limit}")
                return True

            config.add_check(check)

        def changed(old: Snapshot | None, new: Snapshot, keys: Any) -> None:
            show(new)

        config.on_change(changed)
        show(config.snapshot())
        sys.stdin.read()


if __name__ == "__main__":
    main()
