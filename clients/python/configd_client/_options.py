"""ClientOptions: how a client connects, caches, checks and retries, defined once for both clients.

`AsyncConfigClient(namespaces, options=..., **kwargs)` and `ConfigClient(...)` take the same
options: a ClientOptions, keyword arguments naming its fields, or both (the keywords override).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from configd_client._addresses import parse_addresses
from configd_client._channel import ConnectOptions, TLSOptions
from configd_client.wire.labels import (
    MAX_CLIENT_ID_BYTES,
    client_id_problem,
    labels_problem,
    parse_labels,
)

MISSING_POLICIES = ("error", "wait", "defaults")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """Everything about a client except what it watches.

    - `addr`, `token`, `tls`: where and how to connect (defaults: CONFIGD_ADDR, CONFIGD_TOKEN,
      plaintext), or `connect`, a ConnectOptions, instead of these three. `addr` may list
      several replicas (`h1:7700,h2:7700`: the client uses one, moving to the next when it
      fails) or be a gRPC target such as `dns:///name:7700`.
    - `cache_path`: the last known good values are kept there, and used when the server cannot
      be reached at start.
    - `start_timeout`: how long start() waits for the server when there is no usable cache
      (None waits until it answers); with a cache, start() falls back to it as soon as the first
      connection attempt fails.
    - `schemas`: namespace name -> an extra JSON Schema (object or JSON text) the application
      itself requires; a document failing it is rejected like one failing its namespace's schema.
    - `idle_timeout`: how long a silent stream is trusted (the server sends progress while idle);
      it must exceed the server's progress interval.
    - `backoff_initial`, `backoff_max`: reconnect delays in seconds (doubling, with jitter).
    - `missing`: what start() does when a watched namespace (an exact name) does not exist on
      the server: "error" (the default) raises NamespaceNotFound, so a misspelt name fails at
      once, even when a cache file has values for it; "wait" waits for it to be created
      (within `start_timeout`; None waits as long as it takes); "defaults" starts at once and
      serves the defaults passed to get() until it is created. Each case is logged; the
      namespaces still missing are in `status.missing`. Prefixes are never missing: a prefix
      that matches nothing yet is a valid watch, and namespaces created under it appear.
    - `min_revision`: start from a state no older than this revision, e.g. the revision of a
      write your own code just made (the namespace's creation). With replicas, a worker that
      has not applied it yet is waited for (bounded by the server) instead of answering from an
      older state; a cache file's revision counts the same way. 0 (the default): no floor.
    - `client_id`: who this process is to the server, stable for its life (default:
      host-pid-random); releases pick a stable percent of clients by it, so give a stable one
      (e.g. the pod name) when the same instance should stay in a release's slice across
      restarts.
    - `labels`: what this process is (`{"service": "payments", "zone": "eu-west-1"}`);
      releases select clients by them. CONFIGD_LABELS=k=v,k=v in the environment adds labels
      (these win over it per label).
    - `logger`: where the client logs (default: the "configd_client" logger).
    """

    addr: str | None = None
    token: str | None = None
    tls: TLSOptions | None = None
    connect: ConnectOptions | None = None
    cache_path: str | os.PathLike[str] | None = None
    start_timeout: float | None = 10.0
    schemas: Mapping[str, Mapping[str, Any] | str] | None = None
    idle_timeout: float = 30.0
    backoff_initial: float = 0.05
    backoff_max: float = 5.0
    missing: Literal["error", "wait", "defaults"] = "error"
    min_revision: int = 0
    client_id: str | None = None
    labels: Mapping[str, str] | None = None
    logger: logging.Logger | None = None

    def __post_init__(self) -> None:
        if self.connect is not None and (self.addr or self.token or self.tls):
            raise ValueError("configd: pass either connect= or addr/token/tls, not both")
        if self.addr:
            parse_addresses(self.addr)  # a malformed list fails here, not at the first connect
        if isinstance(self.min_revision, bool) or not isinstance(self.min_revision, int):
            raise TypeError(
                f"configd: min_revision must be an int (a revision), not {self.min_revision!r}"
            )
        if self.min_revision < 0:
            raise ValueError(
                f"configd: min_revision={self.min_revision} is negative; pass 0 (no floor) or a "
                "revision you have seen"
            )
        if self.client_id is not None:
            problem = client_id_problem(self.client_id)
            if problem:
                raise ValueError(f"configd: {problem}")
        if self.labels is not None:
            problem = labels_problem(dict(self.labels))
            if problem:
                raise ValueError(f"configd: {problem}")
        if self.missing not in MISSING_POLICIES:
            raise ValueError(
                f"configd: missing={self.missing!r} is not one of "
                f"{', '.join(map(repr, MISSING_POLICIES))}"
            )

    @classmethod
    def build(cls, options: ClientOptions | None, overrides: Mapping[str, Any]) -> ClientOptions:
        """`options` (or the defaults) with `overrides` applied; TypeError names an unknown one."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(
                f"configd: unknown client option {', '.join(map(repr, unknown))}; "
                f"the options are {', '.join(sorted(known))}"
            )
        if options is None:
            return cls(**overrides)
        return dataclasses.replace(options, **overrides) if overrides else options

    def identity(self) -> tuple[str, dict[str, str]]:
        """The client id (the default made now) and the labels, CONFIGD_LABELS included;
        ValueError if CONFIGD_LABELS is malformed."""
        client_id = (
            self.client_id
            or (f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}")[
                :MAX_CLIENT_ID_BYTES
            ]
        )
        try:
            labels = parse_labels(os.environ.get("CONFIGD_LABELS", ""))
        except ValueError as exc:
            raise ValueError(f"configd: {exc}") from None
        labels.update(self.labels or {})
        problem = labels_problem(labels, field="labels (with CONFIGD_LABELS)")
        if problem:
            raise ValueError(f"configd: {problem}")
        return client_id, labels

    def connect_options(self) -> ConnectOptions:
        """Where to connect: `connect`, else addr/token/tls with the environment's defaults."""
        return self.connect or ConnectOptions.from_env(self.addr, self.token, self.tls)
