from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("version", "uptime_seconds", "revision", "compact_revision", "namespace_count", "watcher_count", "data_dir")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    WATCHER_COUNT_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    version: str
    uptime_seconds: float
    revision: int
    compact_revision: int
    namespace_count: int
    watcher_count: int
    data_dir: str
    def __init__(self, version: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., revision: _Optional[int] = ..., compact_revision: _Optional[int] = ..., namespace_count: _Optional[int] = ..., watcher_count: _Optional[int] = ..., data_dir: _Optional[str] = ...) -> None: ...

class CompactRequest(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class CompactResponse(_message.Message):
    __slots__ = ("compact_revision",)
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    compact_revision: int
    def __init__(self, compact_revision: _Optional[int] = ...) -> None: ...
