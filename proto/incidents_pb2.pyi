from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Incident(_message.Message):
    __slots__ = ("id", "number", "title", "status", "severity", "urgency", "service_id", "dedup_key", "alert_count", "created_at", "acknowledged_at", "resolved_at", "assignee_id", "escalation_level")
    ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEDUP_KEY_FIELD_NUMBER: _ClassVar[int]
    ALERT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_ID_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    number: int
    title: str
    status: str
    severity: str
    urgency: str
    service_id: str
    dedup_key: str
    alert_count: int
    created_at: str
    acknowledged_at: str
    resolved_at: str
    assignee_id: str
    escalation_level: int
    def __init__(self, id: _Optional[str] = ..., number: _Optional[int] = ..., title: _Optional[str] = ..., status: _Optional[str] = ..., severity: _Optional[str] = ..., urgency: _Optional[str] = ..., service_id: _Optional[str] = ..., dedup_key: _Optional[str] = ..., alert_count: _Optional[int] = ..., created_at: _Optional[str] = ..., acknowledged_at: _Optional[str] = ..., resolved_at: _Optional[str] = ..., assignee_id: _Optional[str] = ..., escalation_level: _Optional[int] = ...) -> None: ...

class ListIncidentsRequest(_message.Message):
    __slots__ = ("status", "service_id", "severity", "since", "limit", "offset")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    status: _containers.RepeatedScalarFieldContainer[str]
    service_id: _containers.RepeatedScalarFieldContainer[str]
    severity: _containers.RepeatedScalarFieldContainer[str]
    since: str
    limit: int
    offset: int
    def __init__(self, status: _Optional[_Iterable[str]] = ..., service_id: _Optional[_Iterable[str]] = ..., severity: _Optional[_Iterable[str]] = ..., since: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListIncidentsResponse(_message.Message):
    __slots__ = ("incidents", "total")
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[Incident]
    total: int
    def __init__(self, incidents: _Optional[_Iterable[_Union[Incident, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class GetIncidentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class IncidentActionRequest(_message.Message):
    __slots__ = ("id", "actor")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    actor: str
    def __init__(self, id: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class CommandAccepted(_message.Message):
    __slots__ = ("command_id", "incident_id")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    incident_id: str
    def __init__(self, command_id: _Optional[str] = ..., incident_id: _Optional[str] = ...) -> None: ...

class TimelineEntry(_message.Message):
    __slots__ = ("at", "kind", "actor", "message")
    AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    at: str
    kind: str
    actor: str
    message: str
    def __init__(self, at: _Optional[str] = ..., kind: _Optional[str] = ..., actor: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Timeline(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[TimelineEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[TimelineEntry, _Mapping]]] = ...) -> None: ...
