"""`configctl compact REVISION` against a real server, and its refusal in the CLI's terms when
a process sharing the server's store has not applied that far."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cli_helpers import Configctl

from configd.storage.sqlite.store import SQLiteStorage
from configd.testing import ConfigdProcess


async def test_compact_and_its_refusal_while_a_replica_lags(tmp_path: Path) -> None:
    with ConfigdProcess(tmp_path / "data") as server:
        configctl = Configctl(server.grpc_addr)
        await asyncio.to_thread(configctl.ok, "ns", "create", "app")
        for i in range(5):
            await asyncio.to_thread(configctl.ok, "put", "app", "k", str(i))
        # Another process sharing the store (here: this one) that has applied only revision 2.
        lagging = SQLiteStorage(server.data_dir)
        await lagging.open()
        try:
            await lagging.report_applied(2)
            refused = await asyncio.to_thread(configctl, "compact", "5")
            assert refused.code == 6  # FAILED_PRECONDITION: CONFLICT, like a failed CAS
            assert refused.errors == [
                "Error: cannot compact at revision 5: a configd process sharing this store has "
                "applied only revision 2 and still needs the history after it; "
                "`configctl compact 3` is the most it allows now, or retry once it has "
                "caught up"
            ]
            done = await asyncio.to_thread(configctl.ok, "compact", "3")
            assert "history below revision 3 is compacted" in done.stderr
        finally:
            await lagging.close()
        # Nobody lags any more: up to the head.
        done = await asyncio.to_thread(configctl.ok, "compact", "6")
        assert "history below revision 6 is compacted" in done.stderr
        old = await asyncio.to_thread(configctl, "get", "app", "k", "--revision", "5")
        assert old.code != 0
        assert "compacted" in old.stderr
