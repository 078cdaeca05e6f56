"""The advisory locks configd takes in a PostgreSQL database, and the write turn.

Advisory locks belong to one database, and a session lock goes with its connection, so a
process killed with SIGKILL loses every lock it held when the server notices the connection
gone. Keys are (CLASS, n) pairs; CLASS is configd's own, so other users of the database keep
theirs.
"""

from __future__ import annotations

CLASS = 0x636F6E66  # "conf"

MIGRATION_LOCK = (CLASS, 1)
"""Transaction lock: one process migrates at a time (migrations.py)."""

WRITE_TURN_LOCK = (CLASS, 2)
"""Session lock on the write connection, from begin_write_turn to end_write_turn: processes
take turns to commit, so none is overtaken again and again. The head row's lock (held by each
write transaction) is what keeps the store consistent; this one only keeps writers from
starving."""

MAINTENANCE_LOCK = (CLASS, 3)
"""Session lock on the doorbell connection: its holder compacts history in the background.
Retried after a reconnect, since it went with the lost connection."""
