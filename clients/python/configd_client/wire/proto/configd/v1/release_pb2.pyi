import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from configd_client.wire.proto.configd.v1 import config_pb2 as _config_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReleaseState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELEASE_STATE_UNSPECIFIED: _ClassVar[ReleaseState]
    RELEASE_STATE_RUNNING: _ClassVar[ReleaseState]
    RELEASE_STATE_PROMOTED: _ClassVar[ReleaseState]
    RELEASE_STATE_ABORTED: _ClassVar[ReleaseState]

class AckOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_OUTCOME_UNSPECIFIED: _ClassVar[AckOutcome]
    ACK_OUTCOME_APPLIED: _ClassVar[AckOutcome]
    ACK_OUTCOME_REJECTED: _ClassVar[AckOutcome]
    ACK_OUTCOME_PENDING: _ClassVar[AckOutcome]
RELEASE_STATE_UNSPECIFIED: ReleaseState
RELEASE_STATE_RUNNING: ReleaseState
RELEASE_STATE_PROMOTED: ReleaseState
RELEASE_STATE_ABORTED: ReleaseState
ACK_OUTCOME_UNSPECIFIED: AckOutcome
ACK_OUTCOME_APPLIED: AckOutcome
ACK_OUTCOME_REJECTED: AckOutcome
ACK_OUTCOME_PENDING: AckOutcome

class LabelSelector(_message.Message):
    __slots__ = ("label", "value")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    label: str
    value: str
    def __init__(self, label: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class StartReleaseRequest(_message.Message):
    __slots__ = ("namespace", "document_json", "selectors", "percent", "max_failures", "bake_seconds", "message", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    SELECTORS_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURES_FIELD_NUMBER: _ClassVar[int]
    BAKE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    document_json: str
    selectors: _containers.RepeatedCompositeFieldContainer[LabelSelector]
    percent: int
    max_failures: int
    bake_seconds: float
    message: str
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., document_json: _Optional[str] = ..., selectors: _Optional[_Iterable[_Union[LabelSelector, _Mapping]]] = ..., percent: _Optional[int] = ..., max_failures: _Optional[int] = ..., bake_seconds: _Optional[float] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class Release(_message.Message):
    __slots__ = ("id", "namespace", "state", "selectors", "percent", "max_failures", "bake_seconds", "document_json", "changes", "started_by", "message", "started_at", "end_revision", "ended_by", "end_message", "ended_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SELECTORS_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURES_FIELD_NUMBER: _ClassVar[int]
    BAKE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    STARTED_BY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    END_REVISION_FIELD_NUMBER: _ClassVar[int]
    ENDED_BY_FIELD_NUMBER: _ClassVar[int]
    END_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    namespace: str
    state: ReleaseState
    selectors: _containers.RepeatedCompositeFieldContainer[LabelSelector]
    percent: int
    max_failures: int
    bake_seconds: float
    document_json: str
    changes: _containers.RepeatedCompositeFieldContainer[_config_pb2.KeyChange]
    started_by: str
    message: str
    started_at: _timestamp_pb2.Timestamp
    end_revision: int
    ended_by: str
    end_message: str
    ended_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., namespace: _Optional[str] = ..., state: _Optional[_Union[ReleaseState, str]] = ..., selectors: _Optional[_Iterable[_Union[LabelSelector, _Mapping]]] = ..., percent: _Optional[int] = ..., max_failures: _Optional[int] = ..., bake_seconds: _Optional[float] = ..., document_json: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[_config_pb2.KeyChange, _Mapping]]] = ..., started_by: _Optional[str] = ..., message: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_revision: _Optional[int] = ..., ended_by: _Optional[str] = ..., end_message: _Optional[str] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReleaseTally(_message.Message):
    __slots__ = ("targeted", "applied", "rejected", "pending")
    TARGETED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    targeted: int
    applied: int
    rejected: int
    pending: int
    def __init__(self, targeted: _Optional[int] = ..., applied: _Optional[int] = ..., rejected: _Optional[int] = ..., pending: _Optional[int] = ...) -> None: ...

class ReleaseClient(_message.Message):
    __slots__ = ("client_id", "labels", "replica", "outcome", "reason", "revision", "acked_at", "connected")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ACKED_AT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    labels: _containers.ScalarMap[str, str]
    replica: str
    outcome: AckOutcome
    reason: str
    revision: int
    acked_at: _timestamp_pb2.Timestamp
    connected: bool
    def __init__(self, client_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., replica: _Optional[str] = ..., outcome: _Optional[_Union[AckOutcome, str]] = ..., reason: _Optional[str] = ..., revision: _Optional[int] = ..., acked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., connected: _Optional[bool] = ...) -> None: ...

class GetReleaseRequest(_message.Message):
    __slots__ = ("namespace", "release_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    release_id: int
    def __init__(self, namespace: _Optional[str] = ..., release_id: _Optional[int] = ...) -> None: ...

class GetReleaseResponse(_message.Message):
    __slots__ = ("release", "tally", "clients", "revision")
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    TALLY_FIELD_NUMBER: _ClassVar[int]
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    release: Release
    tally: ReleaseTally
    clients: _containers.RepeatedCompositeFieldContainer[ReleaseClient]
    revision: int
    def __init__(self, release: _Optional[_Union[Release, _Mapping]] = ..., tally: _Optional[_Union[ReleaseTally, _Mapping]] = ..., clients: _Optional[_Iterable[_Union[ReleaseClient, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class EndReleaseRequest(_message.Message):
    __slots__ = ("namespace", "release_id", "message", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    release_id: int
    message: str
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., release_id: _Optional[int] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("revision", "release")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    revision: int
    release: Release
    def __init__(self, revision: _Optional[int] = ..., release: _Optional[_Union[Release, _Mapping]] = ...) -> None: ...

class ListClientsRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class ClientNamespace(_message.Message):
    __slots__ = ("namespace", "applied_revision", "rejected_revision", "reason", "behind")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_REVISION_FIELD_NUMBER: _ClassVar[int]
    REJECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BEHIND_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    applied_revision: int
    rejected_revision: int
    reason: str
    behind: bool
    def __init__(self, namespace: _Optional[str] = ..., applied_revision: _Optional[int] = ..., rejected_revision: _Optional[int] = ..., reason: _Optional[str] = ..., behind: _Optional[bool] = ...) -> None: ...

class ConnectedClient(_message.Message):
    __slots__ = ("client_id", "labels", "replica", "connected_at", "seen_at", "connected", "namespaces", "prefixes", "applied")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    labels: _containers.ScalarMap[str, str]
    replica: str
    connected_at: _timestamp_pb2.Timestamp
    seen_at: _timestamp_pb2.Timestamp
    connected: bool
    namespaces: _containers.RepeatedScalarFieldContainer[str]
    prefixes: _containers.RepeatedScalarFieldContainer[str]
    applied: _containers.RepeatedCompositeFieldContainer[ClientNamespace]
    def __init__(self, client_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., replica: _Optional[str] = ..., connected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., connected: _Optional[bool] = ..., namespaces: _Optional[_Iterable[str]] = ..., prefixes: _Optional[_Iterable[str]] = ..., applied: _Optional[_Iterable[_Union[ClientNamespace, _Mapping]]] = ...) -> None: ...

class ListClientsResponse(_message.Message):
    __slots__ = ("clients",)
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[ConnectedClient]
    def __init__(self, clients: _Optional[_Iterable[_Union[ConnectedClient, _Mapping]]] = ...) -> None: ...

class NamespaceAck(_message.Message):
    __slots__ = ("namespace", "revision", "outcome", "reason")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    revision: int
    outcome: AckOutcome
    reason: str
    def __init__(self, namespace: _Optional[str] = ..., revision: _Optional[int] = ..., outcome: _Optional[_Union[AckOutcome, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class AckRequest(_message.Message):
    __slots__ = ("client_id", "acks")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    acks: _containers.RepeatedCompositeFieldContainer[NamespaceAck]
    def __init__(self, client_id: _Optional[str] = ..., acks: _Optional[_Iterable[_Union[NamespaceAck, _Mapping]]] = ...) -> None: ...

class AckResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
