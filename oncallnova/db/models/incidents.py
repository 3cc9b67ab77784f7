"""Services, alerts, incidents and the incident timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from oncallnova.db.models.base import Base
from oncallnova.db.types import IdColumnType, JSONType, UTCDateTime, new_id, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY.
AutoBigInt = BigInteger().with_variant(Integer(), "sqlite")


class Service(Base):
    """Something that can break; alerts reach it through its integration key."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    integration_key: Mapped[str] = mapped_column(String(32), unique=True)
    escalation_policy_id: Mapped[str | None] = mapped_column(IdColumnType())
    # When set, Grafana webhooks must carry its HMAC (X-Grafana-Alerting-Signature).
    webhook_secret: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The owning team: its responders act on the service's incidents; None = every team's.
    team_id: Mapped[str | None] = mapped_column(IdColumnType(), index=True)
    # After a rotation the old key keeps working until `previous_key_expires_at`.
    previous_integration_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    previous_key_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Incident(Base):
    """One problem on one service, fed by any number of alerts sharing its dedup key."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    title: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(8))
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    dedup_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(80))
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    assignee_id: Mapped[str | None] = mapped_column(IdColumnType())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The last guard against two correlators opening the same incident twice.
        Index(
            "uq_incidents_open_dedup",
            "service_id",
            "dedup_key",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
            sqlite_where=text("status <> 'resolved'"),
        ),
        Index("ix_incidents_status_created", "status", "created_at"),
        Index("ix_incidents_service_created", "service_id", "created_at"),
    )


class Alert(Base):
    """Every alert received, kept for the timeline; its id makes redelivery a no-op."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"))
    action: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(80))
    dedup_key: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(String(1024))
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(1024))
    source_format: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (Index("ix_alerts_incident", "incident_id"),)


class ChangeEvent(Base):
    """A deploy or config change: never notifies, shown on the service's timeline."""

    __tablename__ = "change_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    summary: Mapped[str] = mapped_column(String(1024))
    source: Mapped[str | None] = mapped_column(String(1024))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)


class TimelineEntry(Base):
    """Who did what to an incident, when, and which message caused it."""

    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    # The command or alert id behind the entry: redelivery of it adds nothing.
    source_id: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    __table_args__ = (
        UniqueConstraint("incident_id", "kind", "source_id", name="uq_timeline_source"),
        Index("ix_timeline_incident_at", "incident_id", "at"),
        # Redelivered commands are recognised by their source alone.
        Index("ix_timeline_source", "source_id"),
    )
