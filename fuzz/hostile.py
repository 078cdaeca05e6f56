"""The hostile-input campaign: malformed and hostile requests to every RPC of a real server.

Each case is a hypothesis strategy and a check. The check sends one input and asserts: the
call ends before its deadline, with an expected status (never INTERNAL or UNKNOWN), nothing
is stored when it fails (the global revision is unchanged), and the server still returns the
reference namespace exactly. Used by tests/configd/test_hostile_input.py (few examples) and
fuzz/hostile_campaign.py (many, with figures).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from hypothesis import strategies as st

from configd_client.wire import admin_pb2, config_pb2

CALL_DEADLINE = 5.0
BASE = "h/base"
BASE_DOC = {"name": "reference", "n": 12345678901234567890, "list": [1, "two", None]}
NEVER = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
REFUSED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}

_SERVICES = (
    config_pb2.DESCRIPTOR.services_by_name["ConfigService"],
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
)
METHODS = [
    (f"/{service.full_name}/{m.name}", m.server_streaming)
    for service in _SERVICES
    for m in service.methods
    if not (service.name == "AdminService" and m.name in ("Compact", "RevokeToken", "Backup"))
]


@dataclass
class Figures:
    """What a campaign saw: calls per case and status, and the slowest call."""

    calls: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0


class Target:
    """A real server reached with raw (unserialized) calls, as the admin."""

    def __init__(self, addr: str, token: str | None) -> None:
        self.channel = grpc.insecure_channel(
            addr, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
        )
        self.metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self.figures = Figures()
        self.stub_config = config_pb2  # for building requests in cases

    def close(self) -> None:
        self.channel.close()

    def call(
        self,
        method: str,
        payload: bytes,
        *,
        stream: bool = False,
        metadata: tuple[tuple[str, str], ...] | None = None,
        case: str = "",
    ) -> grpc.StatusCode:
        """Send raw bytes; the status (OK if a reply or first stream message arrived)."""
        sent = self.metadata if metadata is None else metadata
        started = time.monotonic()
        code = grpc.StatusCode.OK
        try:
            if stream:
                responses = self.channel.unary_stream(method)(
                    payload, metadata=sent, timeout=CALL_DEADLINE
                )
                try:
                    next(responses)
                except StopIteration:
                    pass
                finally:
                    responses.cancel()
            else:
                self.channel.unary_unary(method)(payload, metadata=sent, timeout=CALL_DEADLINE)
        except grpc.RpcError as exc:
            code = exc.code()
            # A stream that opened and was cancelled by us after its first message is fine.
            if stream and code is grpc.StatusCode.CANCELLED:
                code = grpc.StatusCode.OK
        took = time.monotonic() - started
        self.figures.slowest = max(self.figures.slowest, took)
        self.figures.calls[f"{case} {code.name}"] += 1
        return code

    def reference(self) -> tuple[int, Any]:
        """(current revision, document) of the reference namespace."""
        reply = config_pb2.GetNamespaceResponse.FromString(
            self.channel.unary_unary("/configd.v1.ConfigService/GetNamespace")(
                config_pb2.GetNamespaceRequest(name=BASE).SerializeToString(),
                metadata=self.metadata,
                timeout=CALL_DEADLINE,
            )
        )
        return reply.current_revision, json.loads(reply.document_json)

    def setup(self) -> None:
        create = config_pb2.CreateNamespaceRequest(name=BASE)
        try:
            self.channel.unary_unary("/configd.v1.ConfigService/CreateNamespace")(
                create.SerializeToString(), metadata=self.metadata, timeout=CALL_DEADLINE
            )
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.ALREADY_EXISTS:
                raise
        apply = config_pb2.ApplyRequest(namespace=BASE, document_json=json.dumps(BASE_DOC))
        self.channel.unary_unary("/configd.v1.ConfigService/Apply")(
            apply.SerializeToString(), metadata=self.metadata, timeout=CALL_DEADLINE
        )

    def expect(
        self, case: str, send: Callable[[], grpc.StatusCode], allowed: set[grpc.StatusCode]
    ) -> grpc.StatusCode:
        """Send one input and check every promise of the campaign."""
        before, _ = self.reference()
        code = send()
        assert code not in NEVER, f"{case}: the server answered {code.name}"
        assert code in allowed, (
            f"{case}: expected one of {sorted(c.name for c in allowed)}, got {code.name}"
        )
        after, document = self.reference()
        if code is not grpc.StatusCode.OK:
            assert after == before, f"{case}: refused with {code.name} but revision moved"
        assert document == BASE_DOC, f"{case}: the reference document changed"
        return code


# -- strategies -------------------------------------------------------------------------

_HOSTILE_PARTS = ["..", "//", "\x00", "\n", "\x7f", "\u202e", "A", " ", "é", "%2e%2e", "\\"]


@st.composite
def hostile_names(draw: st.DrawFn) -> str:
    """Namespace names the data model forbids (each has at least one forbidden feature)."""
    base = draw(st.text(alphabet="abc./-_0123456789", max_size=30))
    kind = draw(st.sampled_from(["part", "lead", "trail", "long", "empty"]))
    if kind == "part":
        cut = draw(st.integers(0, len(base)))
        return base[:cut] + draw(st.sampled_from(_HOSTILE_PARTS)) + base[cut:]
    if kind == "lead":
        return "/" + base
    if kind == "trail":
        return base + "/"
    if kind == "long":
        return "a" * draw(st.integers(201, 5000))
    return ""


@st.composite
def hostile_keys(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["control", "long", "empty"]))
    if kind == "control":
        text = draw(st.text(max_size=20))
        cut = draw(st.integers(0, len(text)))
        control = chr(draw(st.one_of(st.integers(0, 0x1F), st.integers(0x7F, 0x9F))))
        return text[:cut] + control + text[cut:]
    if kind == "long":
        return "k" * draw(st.integers(257, 3000))
    return ""


def _nested(depth: int, opener: str, closer: str) -> str:
    return opener * depth + closer * depth


@st.composite
def hostile_json(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["deep", "garbage", "constant", "huge", "trailing"]))
    if kind == "deep":
        depth = draw(st.integers(65, 20_000))
        return (
            _nested(depth, "[", "]") if draw(st.booleans()) else '{"a":' * depth + "1" + "}" * depth
        )
    if kind == "garbage":
        text = draw(st.text(max_size=200))
        try:
            json.loads(text)
        except ValueError:
            return text
        return text + "}"
    if kind == "constant":
        return draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "[NaN]", '{"a": Infinity}']))
    if kind == "huge":
        return '"' + "x" * draw(st.integers(256 * 1024, 600 * 1024)) + '"'
    return "1 2"


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


@st.composite
def invalid_utf8(draw: st.DrawFn) -> bytes:
    """Bytes that are not UTF-8, to go in a protobuf string field."""
    good = draw(st.binary(max_size=20))
    bad = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]))
    cut = draw(st.integers(0, len(good)))
    data = good[:cut] + bad + good[cut:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return data + b"\xff"  # the pieces happened to join into valid UTF-8


revisions = st.one_of(st.integers(-(2**63), -1), st.integers(10**9, 2**63 - 1))


# -- cases ------------------------------------------------------------------------------

CONFIG = "/configd.v1.ConfigService/"


def case_random_bytes(target: Target, value: tuple[int, bytes]) -> None:
    index, payload = value
    method, stream = METHODS[index % len(METHODS)]
    # Random bytes can decode to a valid request (b"" is every field at its default), so any
    # domain answer is fine; what matters is never INTERNAL/UNKNOWN and nothing stored on error.
    allowed = set(grpc.StatusCode) - NEVER
    target.expect(
        "random-bytes",
        lambda: target.call(method, payload, stream=stream, case="random-bytes"),
        allowed,
    )


def case_invalid_utf8(target: Target, value: tuple[int, bytes]) -> None:
    which, bad = value
    requests = [
        (CONFIG + "Put", _field(1, bad) + _field(2, b"k") + _field(3, b"1")),
        (CONFIG + "Put", _field(1, BASE.encode()) + _field(2, bad) + _field(3, b"1")),
        (CONFIG + "Put", _field(1, BASE.encode()) + _field(2, b"k") + _field(3, b'"' + bad + b'"')),
        (CONFIG + "CreateNamespace", _field(1, bad)),
        (CONFIG + "GetNamespace", _field(1, bad)),
    ]
    method, payload = requests[which % len(requests)]
    target.expect(
        "invalid-utf8",
        lambda: target.call(method, payload, case="invalid-utf8"),
        {grpc.StatusCode.INVALID_ARGUMENT},
    )


def case_hostile_names(target: Target, name: str) -> None:
    for method, request in (
        ("CreateNamespace", config_pb2.CreateNamespaceRequest(name=name)),
        ("Put", config_pb2.PutRequest(namespace=name, key="k", value_json="1")),
        ("GetNamespace", config_pb2.GetNamespaceRequest(name=name)),
        ("Watch", config_pb2.WatchRequest(namespaces=[name])),
    ):
        target.expect(
            "hostile-name",
            lambda m=method, r=request: target.call(
                CONFIG + m, r.SerializeToString(), stream=m == "Watch", case="hostile-name"
            ),
            REFUSED,
        )


def case_hostile_keys(target: Target, key: str) -> None:
    payload = config_pb2.PutRequest(namespace=BASE, key=key, value_json="1").SerializeToString()
    target.expect(
        "hostile-key", lambda: target.call(CONFIG + "Put", payload, case="hostile-key"), REFUSED
    )


def case_hostile_json(target: Target, text: str) -> None:
    for method, request in (
        ("Put", config_pb2.PutRequest(namespace=BASE, key="v", value_json=text)),
        ("Apply", config_pb2.ApplyRequest(namespace=BASE, document_json=text)),
        ("SetSchema", config_pb2.SetSchemaRequest(name=BASE, schema_json=text)),
    ):
        target.expect(
            "hostile-json",
            lambda m=method, r=request: target.call(
                CONFIG + m, r.SerializeToString(), case="hostile-json"
            ),
            REFUSED,
        )


def case_revisions(target: Target, revision: int) -> None:
    out_of_range = REFUSED | {grpc.StatusCode.OUT_OF_RANGE}
    for method, request, stream in (
        ("Get", config_pb2.GetRequest(namespace=BASE, key="name", revision=revision), False),
        ("GetNamespace", config_pb2.GetNamespaceRequest(name=BASE, revision=revision), False),
        ("Rollback", config_pb2.RollbackRequest(namespace=BASE, to_revision=revision), False),
        ("History", config_pb2.HistoryRequest(namespace=BASE, page_token=str(revision)), False),
    ):
        target.expect(
            "revision",
            lambda m=method, r=request, s=stream: target.call(
                CONFIG + m, r.SerializeToString(), stream=s, case="revision"
            ),
            out_of_range | ({grpc.StatusCode.OK} if method == "History" else set()),
        )
    if revision < 0:
        watch = config_pb2.WatchRequest(namespaces=[BASE], start_revision=revision)
        target.expect(
            "revision",
            lambda: target.call(
                CONFIG + "Watch", watch.SerializeToString(), stream=True, case="revision"
            ),
            REFUSED,
        )


def case_metadata(target: Target, value: tuple[str, int]) -> None:
    kind, size = value
    payload = config_pb2.GetNamespaceRequest(name=BASE).SerializeToString()
    if kind == "huge-value":
        metadata = (*target.metadata, ("x-junk", "v" * size))
        allowed = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OK}
    elif kind == "many-keys":
        metadata = (*target.metadata, *((f"x-k{i}", "v" * 64) for i in range(size // 64)))
        allowed = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OK}
    else:  # a huge or mangled bearer token
        metadata = (("authorization", "Bearer " + "t" * size),)
        allowed = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    code = target.expect(
        "metadata",
        lambda: target.call(CONFIG + "GetNamespace", payload, metadata=metadata, case="metadata"),
        allowed,
    )
    if kind != "token" and size > 16 * 1024:
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED


CASES: dict[str, tuple[st.SearchStrategy[Any], Callable[[Target, Any], None]]] = {
    "random-bytes": (
        st.tuples(st.integers(0, 1000), st.binary(max_size=4096)),
        case_random_bytes,
    ),
    "invalid-utf8": (st.tuples(st.integers(0, 100), invalid_utf8()), case_invalid_utf8),
    "hostile-names": (hostile_names(), case_hostile_names),
    "hostile-keys": (hostile_keys(), case_hostile_keys),
    "hostile-json": (hostile_json(), case_hostile_json),
    "revisions": (revisions, case_revisions),
    "metadata": (
        st.tuples(
            st.sampled_from(["huge-value", "many-keys", "token"]), st.integers(100, 64 * 1024)
        ),
        case_metadata,
    ),
}
