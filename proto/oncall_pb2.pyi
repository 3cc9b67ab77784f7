from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WhoIsOnCallRequest(_message.Message):
    __slots__ = ("schedule_id", "escalation_policy_id", "at")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    escalation_policy_id: str
    at: str
    def __init__(self, schedule_id: _Optional[str] = ..., escalation_policy_id: _Optional[str] = ..., at: _Optional[str] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("id", "name", "email")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    email: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class Shift(_message.Message):
    __slots__ = ("start", "end", "source", "user_id", "layer_id", "layer", "override_id")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LAYER_ID_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_ID_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    source: str
    user_id: str
    layer_id: str
    layer: int
    override_id: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ..., source: _Optional[str] = ..., user_id: _Optional[str] = ..., layer_id: _Optional[str] = ..., layer: _Optional[int] = ..., override_id: _Optional[str] = ...) -> None: ...

class OnCallEntry(_message.Message):
    __slots__ = ("user", "source", "schedule_id", "escalation_policy_id", "escalation_level", "shift")
    USER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    user: User
    source: str
    schedule_id: str
    escalation_policy_id: str
    escalation_level: int
    shift: Shift
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., source: _Optional[str] = ..., schedule_id: _Optional[str] = ..., escalation_policy_id: _Optional[str] = ..., escalation_level: _Optional[int] = ..., shift: _Optional[_Union[Shift, _Mapping]] = ...) -> None: ...

class WhoIsOnCallResponse(_message.Message):
    __slots__ = ("at", "oncall")
    AT_FIELD_NUMBER: _ClassVar[int]
    ONCALL_FIELD_NUMBER: _ClassVar[int]
    at: str
    oncall: _containers.RepeatedCompositeFieldContainer[OnCallEntry]
    def __init__(self, at: _Optional[str] = ..., oncall: _Optional[_Iterable[_Union[OnCallEntry, _Mapping]]] = ...) -> None: ...

class RenderScheduleRequest(_message.Message):
    __slots__ = ("schedule_id", "start", "end")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    start: str
    end: str
    def __init__(self, schedule_id: _Optional[str] = ..., start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class RenderScheduleResponse(_message.Message):
    __slots__ = ("schedule_id", "time_zone", "shifts")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    time_zone: str
    shifts: _containers.RepeatedCompositeFieldContainer[Shift]
    def __init__(self, schedule_id: _Optional[str] = ..., time_zone: _Optional[str] = ..., shifts: _Optional[_Iterable[_Union[Shift, _Mapping]]] = ...) -> None: ...

class GetScheduleRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListSchedulesRequest(_message.Message):
    __slots__ = ("team_id",)
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    def __init__(self, team_id: _Optional[str] = ...) -> None: ...

class Restriction(_message.Message):
    __slots__ = ("weekdays", "start_time", "end_time")
    WEEKDAYS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    weekdays: _containers.RepeatedScalarFieldContainer[int]
    start_time: str
    end_time: str
    def __init__(self, weekdays: _Optional[_Iterable[int]] = ..., start_time: _Optional[str] = ..., end_time: _Optional[str] = ...) -> None: ...

class Layer(_message.Message):
    __slots__ = ("id", "level", "name", "user_ids", "rotation_start", "end", "turn_unit", "turn_length", "restrictions")
    ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    ROTATION_START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TURN_UNIT_FIELD_NUMBER: _ClassVar[int]
    TURN_LENGTH_FIELD_NUMBER: _ClassVar[int]
    RESTRICTIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    level: int
    name: str
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    rotation_start: str
    end: str
    turn_unit: str
    turn_length: int
    restrictions: _containers.RepeatedCompositeFieldContainer[Restriction]
    def __init__(self, id: _Optional[str] = ..., level: _Optional[int] = ..., name: _Optional[str] = ..., user_ids: _Optional[_Iterable[str]] = ..., rotation_start: _Optional[str] = ..., end: _Optional[str] = ..., turn_unit: _Optional[str] = ..., turn_length: _Optional[int] = ..., restrictions: _Optional[_Iterable[_Union[Restriction, _Mapping]]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("id", "name", "time_zone", "description", "team_id", "layers")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    time_zone: str
    description: str
    team_id: str
    layers: _containers.RepeatedCompositeFieldContainer[Layer]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., time_zone: _Optional[str] = ..., description: _Optional[str] = ..., team_id: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[Layer, _Mapping]]] = ...) -> None: ...

class ListSchedulesResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    def __init__(self, schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ...) -> None: ...
