"""Request and response bodies of the on-call REST API; validation errors name the field."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oncallnova.errors import InvalidInput
from oncallnova.oncall.localtime import zone

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _check_zone(value: str) -> str:
    try:
        zone(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactMethod(_In):
    type: Literal["email", "sms", "phone", "webhook", "push"]
    address: str = Field(min_length=1, max_length=1024)
    label: str | None = Field(default=None, max_length=255)


Username = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
RoleName = Literal["admin", "responder", "viewer"]


class UserIn(_In):
    """`name` defaults to the username; `email` may be left out when a `username` is given (a
    login without a mailbox gets `<username>@oncallnova.invalid`)."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    email: str | None = Field(default=None, max_length=320, examples=["ada@example.com"])
    time_zone: str = Field(default="UTC", examples=["Europe/Paris"])
    contact_methods: list[ContactMethod] = Field(default_factory=list)
    username: str | None = Username
    role: RoleName = "viewer"
    # Write-only: stored as an argon2id hash. Without one the user cannot log in.
    password: str | None = Field(default=None, min_length=8, max_length=256)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @model_validator(mode="after")
    def _identity(self) -> UserIn:
        # Without either, the route answers 422 naming `email`.
        if self.email is None and self.username is not None:
            self.email = f"{self.username}@oncallnova.invalid"
        if self.name is None and self.email is not None:
            self.name = self.username or self.email.split("@")[0]
        return self

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


class UserPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    email: str | None = Field(default=None, max_length=320)
    time_zone: str | None = None
    contact_methods: list[ContactMethod] | None = None
    username: str | None = Username
    role: RoleName | None = Field(default=None, description="admins only")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class UserOut(BaseModel):
    id: str
    name: str
    email: str
    time_zone: str
    contact_methods: list[dict[str, Any]]
    created_at: datetime
    username: str | None = None
    role: str = "viewer"


class PasswordResetIn(_In):
    new_password: str = Field(min_length=8, max_length=256)


class FeedOut(BaseModel):
    """A personal iCalendar feed: keep the URL secret, anyone holding it sees the shifts."""

    user_id: str
    token: str
    path: str


class ScheduleFeedOut(BaseModel):
    """A schedule's iCalendar feed URL: anyone holding it sees the schedule's shifts."""

    schedule_id: str
    token: str
    path: str


class TeamIn(_In):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    member_ids: list[str] = Field(default_factory=list)


class TeamPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    member_ids: list[str] | None = None


class TeamOut(BaseModel):
    id: str
    name: str
    description: str | None
    member_ids: list[str]
    created_at: datetime


class RestrictionIn(_In):
    """`weekdays 09:00–17:00` is `{"weekdays": ["mon","tue","wed","thu","fri"],
    "start_time": "09:00", "end_time": "17:00"}`; an end at or before the start runs past
    midnight; equal start and end mean 24 hours."""

    weekdays: list[int | str] = Field(min_length=1, examples=[["mon", "tue", "wed", "thu", "fri"]])
    start_time: time
    end_time: time

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, values: list[int | str]) -> list[int]:
        days: list[int] = []
        for value in values:
            day = _WEEKDAYS.get(value.lower()[:3]) if isinstance(value, str) else value
            if day is None or not 0 <= day <= 6:
                raise ValueError(f"{value!r} is not a weekday (0 = Monday … 6 = Sunday, mon … sun)")
            days.append(day)
        return sorted(set(days))


class LayerIn(_In):
    """A rotation. `rotation_start` is read on the schedule's local wall clock (an offset, if
    given, is converted to it): the first user's turn begins there, and every handoff happens
    at that local time (and weekday, for weekly turns)."""

    name: str = Field(default="", max_length=255)
    users: list[str] = Field(min_length=1, description="user ids, in turn order")
    rotation_start: datetime = Field(examples=["2024-03-04T09:00:00"])
    end: datetime | None = None
    turn_unit: Literal["hours", "days", "weeks"] = "weeks"
    turn_length: int = Field(default=1, ge=1)
    restrictions: list[RestrictionIn] = Field(default_factory=list)


class RestrictionOut(BaseModel):
    weekdays: list[int]
    start_time: time
    end_time: time


class LayerOut(BaseModel):
    id: str
    level: int = Field(description="1 = bottom; higher levels win where they have someone")
    name: str
    users: list[str]
    rotation_start: datetime
    handoff_time: time
    end: datetime | None
    turn_unit: str
    turn_length: int
    restrictions: list[RestrictionOut]


class ScheduleIn(_In):
    name: str = Field(min_length=1, max_length=255)
    time_zone: str = Field(examples=["Europe/Paris"])
    description: str | None = None
    team_id: str | None = None
    layers: list[LayerIn] = Field(default_factory=list, description="bottom layer first")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


class ScheduleOut(BaseModel):
    id: str
    name: str
    time_zone: str
    description: str | None
    team_id: str | None
    layers: list[LayerOut]
    created_at: datetime
    updated_at: datetime


class OverrideIn(_In):
    user_id: str
    start: datetime = Field(examples=["2024-03-08T18:00:00+01:00"])
    end: datetime


class OverrideOut(BaseModel):
    id: str
    schedule_id: str
    user_id: str
    start: datetime
    end: datetime
    created_at: datetime


class ShiftOut(BaseModel):
    start: datetime
    end: datetime
    source: Literal["layer", "override", "gap"]
    user_id: str | None
    layer_id: str | None = None
    layer: int | None = Field(default=None, description="1-based layer level, for layer shifts")
    override_id: str | None = None


class RenderOut(BaseModel):
    schedule_id: str
    time_zone: str
    start: datetime
    end: datetime
    shifts: list[ShiftOut]


class TargetIn(_In):
    type: Literal["user", "schedule"]
    id: str


class LevelIn(_In):
    delay_minutes: int = Field(ge=1, le=24 * 60, description="wait before the next level")
    targets: list[TargetIn] = Field(min_length=1)


class PolicyIn(_In):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    num_loops: int = Field(default=0, ge=0, le=9, description="extra passes after the first")
    team_id: str | None = None
    levels: list[LevelIn] = Field(min_length=1)


class LevelOut(BaseModel):
    id: str
    level: int
    delay_minutes: int
    targets: list[TargetIn]


class PolicyOut(BaseModel):
    id: str
    name: str
    description: str | None
    num_loops: int
    team_id: str | None
    levels: list[LevelOut]
    created_at: datetime
    updated_at: datetime


class UserBrief(BaseModel):
    id: str
    name: str
    email: str


class OnCallEntry(BaseModel):
    """One answer: a user (or nobody, for a gap) and why they are on call."""

    user: UserBrief | None
    source: Literal["layer", "override", "gap", "direct"]
    schedule_id: str | None = None
    escalation_policy_id: str | None = None
    escalation_level: int | None = None
    shift: ShiftOut | None = None


class OnCallOut(BaseModel):
    at: datetime
    oncall: list[OnCallEntry]


class StepOut(BaseModel):
    level: int
    loop: int
    started_at: datetime
    next_step_at: datetime | None
