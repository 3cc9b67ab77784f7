from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("routing_key", "event_action", "dedup_key", "summary", "source", "severity", "component", "group", "custom_details_json", "timestamp")
    ROUTING_KEY_FIELD_NUMBER: _ClassVar[int]
    EVENT_ACTION_FIELD_NUMBER: _ClassVar[int]
    DEDUP_KEY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CLASS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    routing_key: str
    event_action: str
    dedup_key: str
    summary: str
    source: str
    severity: str
    component: str
    group: str
    custom_details_json: str
    timestamp: str
    def __init__(self, routing_key: _Optional[str] = ..., event_action: _Optional[str] = ..., dedup_key: _Optional[str] = ..., summary: _Optional[str] = ..., source: _Optional[str] = ..., severity: _Optional[str] = ..., component: _Optional[str] = ..., group: _Optional[str] = ..., custom_details_json: _Optional[str] = ..., timestamp: _Optional[str] = ..., **kwargs) -> None: ...

class RawAlert(_message.Message):
    __slots__ = ("format", "integration_key", "body")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_KEY_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    format: str
    integration_key: str
    body: bytes
    def __init__(self, format: _Optional[str] = ..., integration_key: _Optional[str] = ..., body: _Optional[bytes] = ...) -> None: ...

class EventAccepted(_message.Message):
    __slots__ = ("dedup_key", "message_id")
    DEDUP_KEY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    dedup_key: str
    message_id: str
    def __init__(self, dedup_key: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...
