"""Client and acknowledgement rows as every SQL backend stores them (tables `clients` and
`acks`): the conversions and the SQL, which differs between the backends only in the
driver's parameter marker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from configd.core.releases import AckRecord, ClientRecord

CLIENT_COLUMNS = "client_id, labels, replica, names, prefixes, connected_at, seen_at, connected"
ACK_COLUMNS = (
    "namespace, client_id, applied_revision, applied_at, rejected_revision, rejected_at, reason"
)


def client_row(client: ClientRecord) -> tuple[Any, ...]:
    """The values of CLIENT_COLUMNS for `client` (connected as 0/1 in both backends, so
    rows copy between them as they are)."""
    return (
        client.client_id,
        json.dumps(dict(client.labels), ensure_ascii=False, sort_keys=True),
        client.replica,
        json.dumps(list(client.names), ensure_ascii=False),
        json.dumps(list(client.prefixes), ensure_ascii=False),
        client.connected_at,
        client.seen_at,
        int(client.connected),
    )


def client_record(row: Sequence[Any]) -> ClientRecord:
    """A client from a row of CLIENT_COLUMNS."""
    client_id, labels, replica, names, prefixes, connected_at, seen_at, connected = row
    return ClientRecord(
        str(client_id),
        MappingProxyType({str(k): str(v) for k, v in json.loads(labels).items()}),
        str(replica),
        tuple(str(n) for n in json.loads(names)),
        tuple(str(p) for p in json.loads(prefixes)),
        float(connected_at),
        float(seen_at),
        bool(connected),
    )


def ack_row(ack: AckRecord) -> tuple[Any, ...]:
    """The values of ACK_COLUMNS for `ack`."""
    return (
        ack.namespace,
        ack.client_id,
        ack.applied_revision,
        ack.applied_at,
        ack.rejected_revision,
        ack.rejected_at,
        ack.reason,
    )


def ack_record(row: Sequence[Any]) -> AckRecord:
    """An ack from a row of ACK_COLUMNS."""
    namespace, client_id, applied, applied_at, rejected, rejected_at, reason = row
    return AckRecord(
        str(namespace),
        str(client_id),
        int(applied),
        float(applied_at),
        int(rejected),
        float(rejected_at),
        str(reason),
    )


def _higher(side: str, column: str) -> str:
    """The stored value of `column` unless the incoming row's `side` revision is higher.
    Every SET expression reads the row as it was before the update (both databases)."""
    return (
        f"{column} = CASE WHEN excluded.{side}_revision > acks.{side}_revision"
        f" THEN excluded.{column} ELSE acks.{column} END"
    )


@dataclass(frozen=True, slots=True)
class ClientSQL:
    """The ClientStore's statements with the driver's parameter marker `p`."""

    p: str

    @property
    def upsert_client(self) -> str:
        marks = ", ".join([self.p] * 8)
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in CLIENT_COLUMNS.split(", ") if c != "client_id"
        )
        return (
            f"INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ({marks})"
            f" ON CONFLICT (client_id) DO UPDATE SET {updates}"
        )

    @property
    def merge_ack(self) -> str:
        marks = ", ".join([self.p] * 7)
        sets = ", ".join(
            [
                _higher("applied", "applied_at"),
                _higher("rejected", "rejected_at"),
                _higher("rejected", "reason"),
                _higher("applied", "applied_revision"),
                _higher("rejected", "rejected_revision"),
            ]
        )
        return (
            f"INSERT INTO acks ({ACK_COLUMNS}) VALUES ({marks})"
            f" ON CONFLICT (namespace, client_id) DO UPDATE SET {sets}"
        )

    @property
    def touch(self) -> str:
        return f"UPDATE clients SET seen_at = {self.p} WHERE replica = {self.p} AND connected = 1"

    @property
    def disconnect(self) -> str:
        return (
            f"UPDATE clients SET connected = 0, seen_at = {self.p}"
            f" WHERE replica = {self.p} AND connected = 1"
        )

    @property
    def load_clients(self) -> str:
        return f"SELECT {CLIENT_COLUMNS} FROM clients WHERE seen_at >= {self.p} ORDER BY client_id"

    @property
    def load_acks(self) -> str:
        return f"SELECT {ACK_COLUMNS} FROM acks WHERE namespace = {self.p} ORDER BY client_id"

    @property
    def forget(self) -> tuple[str, str]:
        """Two statements, each taking (seen_before,): the acks of the clients forgotten,
        then the clients."""
        gone = f"connected = 0 AND seen_at < {self.p}"
        return (
            f"DELETE FROM acks WHERE client_id IN (SELECT client_id FROM clients WHERE {gone})",
            f"DELETE FROM clients WHERE {gone}",
        )
