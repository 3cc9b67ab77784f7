"""Users, teams, schedules (layers, members, restrictions, overrides), escalation policies.

Ordered children (layers, layer members, levels, targets) carry an explicit `position`, so
order survives both databases. Times a person reads on a wall clock (a layer's rotation
start, a restriction window) are stored naive and read in the schedule's time zone;
instants (overrides, timestamps) are UTC.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oncallnova.db.models.base import Base
from oncallnova.db.types import IdColumnType, JSONType, UTCDateTime, new_id, utcnow


def new_feed_token() -> str:
    """A secret for a personal iCalendar feed URL (calendar clients cannot send headers)."""
    return secrets.token_urlsafe(32)


class User(Base):
    """A person who can be on call and, with a password, log in (`role` says what they may do)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # [{"type": "email" | "sms" | "phone" | "webhook", "address": "..."}]
    contact_methods: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    ical_feed_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_feed_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Login (by username or email); no password hash means the person cannot log in.
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id, never returned
    role: Mapped[str] = mapped_column(String(16), default="viewer")  # admin | responder | viewer
    # Tokens issued before this instant stop working (a password change logs out everywhere).
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list[TeamMembership]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="TeamMembership.created_at"
    )


class TeamMembership(Base):
    __tablename__ = "team_memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # member | manager
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # The secret in the schedule's iCalendar feed URL (calendar clients cannot send headers).
    ical_feed_token: Mapped[str | None] = mapped_column(
        String(64), unique=True, default=new_feed_token
    )

    layers: Mapped[list[ScheduleLayer]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ScheduleLayer.position"
    )


class ScheduleLayer(Base):
    """One rotation; a higher `position` sits on top and wins where it has someone."""

    __tablename__ = "schedule_layers"
    __table_args__ = (
        UniqueConstraint("schedule_id", "position"),
        CheckConstraint("turn_length >= 1", name="turn_length_positive"),
        CheckConstraint("turn_unit IN ('hours', 'days', 'weeks')", name="turn_unit_known"),
    )

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255), default="")
    rotation_start: Mapped[datetime] = mapped_column(DateTime(timezone=False))  # local wall clock
    end: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))  # local wall clock
    turn_unit: Mapped[str] = mapped_column(String(8))
    turn_length: Mapped[int] = mapped_column(Integer, default=1)

    members: Mapped[list[LayerMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="LayerMember.position"
    )
    restrictions: Mapped[list[LayerRestriction]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="LayerRestriction.position"
    )


class LayerMember(Base):
    """A user's place in a rotation; the same user may appear more than once."""

    __tablename__ = "schedule_layer_members"
    __table_args__ = (UniqueConstraint("layer_id", "position"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    layer_id: Mapped[str] = mapped_column(ForeignKey("schedule_layers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    # RESTRICT: deleting a user who still takes turns must be a decision, not a silent gap.
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)


class LayerRestriction(Base):
    """The layer is in force on `weekdays` from `start_time` to `end_time`, local time."""

    __tablename__ = "schedule_layer_restrictions"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    layer_id: Mapped[str] = mapped_column(ForeignKey("schedule_layers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    weekdays: Mapped[list[int]] = mapped_column(JSONType)  # 0 = Monday … 6 = Sunday
    start_time: Mapped[time] = mapped_column(Time())
    end_time: Mapped[time] = mapped_column(Time())


class ScheduleOverride(Base):
    __tablename__ = "schedule_overrides"
    __table_args__ = (
        Index("ix_schedule_overrides_schedule_window", "schedule_id", "start", "end"),
        CheckConstraint('"end" > start', name="end_after_start"),
    )

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"
    __table_args__ = (CheckConstraint("num_loops >= 0", name="num_loops_not_negative"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    num_loops: Mapped[int] = mapped_column(Integer, default=0)
    team_id: Mapped[str | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    levels: Mapped[list[EscalationLevel]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="EscalationLevel.position"
    )


class EscalationLevel(Base):
    __tablename__ = "escalation_levels"
    __table_args__ = (
        UniqueConstraint("policy_id", "position"),
        CheckConstraint("delay_minutes >= 1", name="delay_positive"),
    )

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    policy_id: Mapped[str] = mapped_column(ForeignKey("escalation_policies.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    delay_minutes: Mapped[int] = mapped_column(Integer)

    targets: Mapped[list[EscalationTarget]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="EscalationTarget.position"
    )


class EscalationTarget(Base):
    """Exactly one of `user_id` / `schedule_id` is set, as `target_type` says."""

    __tablename__ = "escalation_targets"
    __table_args__ = (
        CheckConstraint(
            "(target_type = 'user' AND user_id IS NOT NULL AND schedule_id IS NULL) OR "
            "(target_type = 'schedule' AND schedule_id IS NOT NULL AND user_id IS NULL)",
            name="one_target",
        ),
    )

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    level_id: Mapped[str] = mapped_column(ForeignKey("escalation_levels.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    target_type: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    schedule_id: Mapped[str | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="RESTRICT"), index=True
    )
