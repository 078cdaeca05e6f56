import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WriteKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WRITE_KIND_UNSPECIFIED: _ClassVar[WriteKind]
    WRITE_KIND_PUT: _ClassVar[WriteKind]
    WRITE_KIND_DELETE: _ClassVar[WriteKind]
    WRITE_KIND_TXN: _ClassVar[WriteKind]
    WRITE_KIND_APPLY: _ClassVar[WriteKind]
    WRITE_KIND_ROLLBACK: _ClassVar[WriteKind]
    WRITE_KIND_SET_SCHEMA: _ClassVar[WriteKind]
    WRITE_KIND_CREATE_NAMESPACE: _ClassVar[WriteKind]
    WRITE_KIND_DELETE_NAMESPACE: _ClassVar[WriteKind]
    WRITE_KIND_RELEASE_START: _ClassVar[WriteKind]
    WRITE_KIND_RELEASE_PROMOTE: _ClassVar[WriteKind]
    WRITE_KIND_RELEASE_ABORT: _ClassVar[WriteKind]
WRITE_KIND_UNSPECIFIED: WriteKind
WRITE_KIND_PUT: WriteKind
WRITE_KIND_DELETE: WriteKind
WRITE_KIND_TXN: WriteKind
WRITE_KIND_APPLY: WriteKind
WRITE_KIND_ROLLBACK: WriteKind
WRITE_KIND_SET_SCHEMA: WriteKind
WRITE_KIND_CREATE_NAMESPACE: WriteKind
WRITE_KIND_DELETE_NAMESPACE: WriteKind
WRITE_KIND_RELEASE_START: WriteKind
WRITE_KIND_RELEASE_PROMOTE: WriteKind
WRITE_KIND_RELEASE_ABORT: WriteKind

class KeyMeta(_message.Message):
    __slots__ = ("key", "create_revision", "mod_revision", "version")
    KEY_FIELD_NUMBER: _ClassVar[int]
    CREATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    key: str
    create_revision: int
    mod_revision: int
    version: int
    def __init__(self, key: _Optional[str] = ..., create_revision: _Optional[int] = ..., mod_revision: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class NamespaceInfo(_message.Message):
    __slots__ = ("name", "create_revision", "mod_revision", "schema_version", "key_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    KEY_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    create_revision: int
    mod_revision: int
    schema_version: int
    key_count: int
    def __init__(self, name: _Optional[str] = ..., create_revision: _Optional[int] = ..., mod_revision: _Optional[int] = ..., schema_version: _Optional[int] = ..., key_count: _Optional[int] = ...) -> None: ...

class Precondition(_message.Message):
    __slots__ = ("key_mod_revision", "key_absent", "namespace_revision")
    KEY_MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    KEY_ABSENT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_REVISION_FIELD_NUMBER: _ClassVar[int]
    key_mod_revision: KeyModRevision
    key_absent: str
    namespace_revision: int
    def __init__(self, key_mod_revision: _Optional[_Union[KeyModRevision, _Mapping]] = ..., key_absent: _Optional[str] = ..., namespace_revision: _Optional[int] = ...) -> None: ...

class KeyModRevision(_message.Message):
    __slots__ = ("key", "mod_revision")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    key: str
    mod_revision: int
    def __init__(self, key: _Optional[str] = ..., mod_revision: _Optional[int] = ...) -> None: ...

class KeyChange(_message.Message):
    __slots__ = ("key", "old_value_json", "new_value_json")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    key: str
    old_value_json: str
    new_value_json: str
    def __init__(self, key: _Optional[str] = ..., old_value_json: _Optional[str] = ..., new_value_json: _Optional[str] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("path", "keyword", "message")
    PATH_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    path: str
    keyword: str
    message: str
    def __init__(self, path: _Optional[str] = ..., keyword: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ChangeSet(_message.Message):
    __slots__ = ("revision", "namespace", "kind", "changes", "author", "message", "time", "schema_version", "schema_json", "release_id")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    revision: int
    namespace: str
    kind: WriteKind
    changes: _containers.RepeatedCompositeFieldContainer[KeyChange]
    author: str
    message: str
    time: _timestamp_pb2.Timestamp
    schema_version: int
    schema_json: str
    release_id: int
    def __init__(self, revision: _Optional[int] = ..., namespace: _Optional[str] = ..., kind: _Optional[_Union[WriteKind, str]] = ..., changes: _Optional[_Iterable[_Union[KeyChange, _Mapping]]] = ..., author: _Optional[str] = ..., message: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., schema_version: _Optional[int] = ..., schema_json: _Optional[str] = ..., release_id: _Optional[int] = ...) -> None: ...

class CreateNamespaceRequest(_message.Message):
    __slots__ = ("name", "schema_json", "message", "document_json", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    schema_json: str
    message: str
    document_json: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., schema_json: _Optional[str] = ..., message: _Optional[str] = ..., document_json: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateNamespaceResponse(_message.Message):
    __slots__ = ("namespace", "revision")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    namespace: NamespaceInfo
    revision: int
    def __init__(self, namespace: _Optional[_Union[NamespaceInfo, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetNamespaceRequest(_message.Message):
    __slots__ = ("name", "revision", "min_revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    revision: int
    min_revision: int
    def __init__(self, name: _Optional[str] = ..., revision: _Optional[int] = ..., min_revision: _Optional[int] = ...) -> None: ...

class GetNamespaceResponse(_message.Message):
    __slots__ = ("namespace", "document_json", "keys", "revision", "current_revision", "compact_revision")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_REVISION_FIELD_NUMBER: _ClassVar[int]
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    namespace: NamespaceInfo
    document_json: str
    keys: _containers.RepeatedCompositeFieldContainer[KeyMeta]
    revision: int
    current_revision: int
    compact_revision: int
    def __init__(self, namespace: _Optional[_Union[NamespaceInfo, _Mapping]] = ..., document_json: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[KeyMeta, _Mapping]]] = ..., revision: _Optional[int] = ..., current_revision: _Optional[int] = ..., compact_revision: _Optional[int] = ...) -> None: ...

class ListNamespacesRequest(_message.Message):
    __slots__ = ("prefix", "page_size", "page_token", "min_revision")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    page_size: int
    page_token: str
    min_revision: int
    def __init__(self, prefix: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., min_revision: _Optional[int] = ...) -> None: ...

class ListNamespacesResponse(_message.Message):
    __slots__ = ("namespaces", "next_page_token", "revision")
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedCompositeFieldContainer[NamespaceInfo]
    next_page_token: str
    revision: int
    def __init__(self, namespaces: _Optional[_Iterable[_Union[NamespaceInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class DeleteNamespaceRequest(_message.Message):
    __slots__ = ("name", "force", "message", "preconditions", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    message: str
    preconditions: _containers.RepeatedCompositeFieldContainer[Precondition]
    request_id: str
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ..., message: _Optional[str] = ..., preconditions: _Optional[_Iterable[_Union[Precondition, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetSchemaRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetSchemaResponse(_message.Message):
    __slots__ = ("schema_json", "version", "revision")
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    schema_json: str
    version: int
    revision: int
    def __init__(self, schema_json: _Optional[str] = ..., version: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class SetSchemaRequest(_message.Message):
    __slots__ = ("name", "schema_json", "message", "preconditions", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    schema_json: str
    message: str
    preconditions: _containers.RepeatedCompositeFieldContainer[Precondition]
    request_id: str
    def __init__(self, name: _Optional[str] = ..., schema_json: _Optional[str] = ..., message: _Optional[str] = ..., preconditions: _Optional[_Iterable[_Union[Precondition, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetSchemaResponse(_message.Message):
    __slots__ = ("version", "revision")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    version: int
    revision: int
    def __init__(self, version: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("namespace", "key", "revision", "min_revision")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    key: str
    revision: int
    min_revision: int
    def __init__(self, namespace: _Optional[str] = ..., key: _Optional[str] = ..., revision: _Optional[int] = ..., min_revision: _Optional[int] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("value_json", "meta", "revision")
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    value_json: str
    meta: KeyMeta
    revision: int
    def __init__(self, value_json: _Optional[str] = ..., meta: _Optional[_Union[KeyMeta, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class PutRequest(_message.Message):
    __slots__ = ("namespace", "key", "value_json", "preconditions", "message", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    key: str
    value_json: str
    preconditions: _containers.RepeatedCompositeFieldContainer[Precondition]
    message: str
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., key: _Optional[str] = ..., value_json: _Optional[str] = ..., preconditions: _Optional[_Iterable[_Union[Precondition, _Mapping]]] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("namespace", "key", "preconditions", "message", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    key: str
    preconditions: _containers.RepeatedCompositeFieldContainer[Precondition]
    message: str
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., key: _Optional[str] = ..., preconditions: _Optional[_Iterable[_Union[Precondition, _Mapping]]] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class TxnOp(_message.Message):
    __slots__ = ("put", "delete")
    PUT_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    put: TxnPut
    delete: str
    def __init__(self, put: _Optional[_Union[TxnPut, _Mapping]] = ..., delete: _Optional[str] = ...) -> None: ...

class TxnPut(_message.Message):
    __slots__ = ("key", "value_json")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    key: str
    value_json: str
    def __init__(self, key: _Optional[str] = ..., value_json: _Optional[str] = ...) -> None: ...

class TxnRequest(_message.Message):
    __slots__ = ("namespace", "ops", "preconditions", "message", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    ops: _containers.RepeatedCompositeFieldContainer[TxnOp]
    preconditions: _containers.RepeatedCompositeFieldContainer[Precondition]
    message: str
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., ops: _Optional[_Iterable[_Union[TxnOp, _Mapping]]] = ..., preconditions: _Optional[_Iterable[_Union[Precondition, _Mapping]]] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ("revision", "namespace", "changes")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    revision: int
    namespace: NamespaceInfo
    changes: _containers.RepeatedCompositeFieldContainer[KeyChange]
    def __init__(self, revision: _Optional[int] = ..., namespace: _Optional[_Union[NamespaceInfo, _Mapping]] = ..., changes: _Optional[_Iterable[_Union[KeyChange, _Mapping]]] = ...) -> None: ...

class ApplyRequest(_message.Message):
    __slots__ = ("namespace", "document_json", "preconditions", "message", "dry_run", "schema_json", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    document_json: str
    preconditions: _containers.RepeatedCompositeFieldContainer[Precondition]
    message: str
    dry_run: bool
    schema_json: str
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., document_json: _Optional[str] = ..., preconditions: _Optional[_Iterable[_Union[Precondition, _Mapping]]] = ..., message: _Optional[str] = ..., dry_run: _Optional[bool] = ..., schema_json: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ApplyResponse(_message.Message):
    __slots__ = ("revision", "changes", "valid", "violations", "namespace_revision", "schema_changed")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_REVISION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_CHANGED_FIELD_NUMBER: _ClassVar[int]
    revision: int
    changes: _containers.RepeatedCompositeFieldContainer[KeyChange]
    valid: bool
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    namespace_revision: int
    schema_changed: bool
    def __init__(self, revision: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[KeyChange, _Mapping]]] = ..., valid: _Optional[bool] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., namespace_revision: _Optional[int] = ..., schema_changed: _Optional[bool] = ...) -> None: ...

class HistoryRequest(_message.Message):
    __slots__ = ("namespace", "key", "page_size", "page_token")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    key: str
    page_size: int
    page_token: str
    def __init__(self, namespace: _Optional[str] = ..., key: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class HistoryResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "compact_revision")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ChangeSet]
    next_page_token: str
    compact_revision: int
    def __init__(self, entries: _Optional[_Iterable[_Union[ChangeSet, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., compact_revision: _Optional[int] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("namespace", "to_revision", "message", "preconditions", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TO_REVISION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    to_revision: int
    message: str
    preconditions: _containers.RepeatedCompositeFieldContainer[Precondition]
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., to_revision: _Optional[int] = ..., message: _Optional[str] = ..., preconditions: _Optional[_Iterable[_Union[Precondition, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("namespaces", "prefixes", "start_revision", "send_snapshot", "min_revision", "client")
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    START_REVISION_FIELD_NUMBER: _ClassVar[int]
    SEND_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    MIN_REVISION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedScalarFieldContainer[str]
    prefixes: _containers.RepeatedScalarFieldContainer[str]
    start_revision: int
    send_snapshot: bool
    min_revision: int
    client: ClientInfo
    def __init__(self, namespaces: _Optional[_Iterable[str]] = ..., prefixes: _Optional[_Iterable[str]] = ..., start_revision: _Optional[int] = ..., send_snapshot: _Optional[bool] = ..., min_revision: _Optional[int] = ..., client: _Optional[_Union[ClientInfo, _Mapping]] = ...) -> None: ...

class ClientInfo(_message.Message):
    __slots__ = ("client_id", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, client_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class NamespaceDocument(_message.Message):
    __slots__ = ("namespace", "document_json", "schema_json", "keys")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    namespace: NamespaceInfo
    document_json: str
    schema_json: str
    keys: _containers.RepeatedCompositeFieldContainer[KeyMeta]
    def __init__(self, namespace: _Optional[_Union[NamespaceInfo, _Mapping]] = ..., document_json: _Optional[str] = ..., schema_json: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[KeyMeta, _Mapping]]] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("revision", "resync", "namespaces", "compact_revision")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RESYNC_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    resync: bool
    namespaces: _containers.RepeatedCompositeFieldContainer[NamespaceDocument]
    compact_revision: int
    def __init__(self, revision: _Optional[int] = ..., resync: _Optional[bool] = ..., namespaces: _Optional[_Iterable[_Union[NamespaceDocument, _Mapping]]] = ..., compact_revision: _Optional[int] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("revision", "compact_revision")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    compact_revision: int
    def __init__(self, revision: _Optional[int] = ..., compact_revision: _Optional[int] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("snapshot", "change_set", "progress")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_SET_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    snapshot: Snapshot
    change_set: ChangeSet
    progress: Progress
    def __init__(self, snapshot: _Optional[_Union[Snapshot, _Mapping]] = ..., change_set: _Optional[_Union[ChangeSet, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ...) -> None: ...
