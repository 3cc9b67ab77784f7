"""What the metrics worker keeps: one row per incident it has seen, the series it derives from
those rows, and the received messages it has already counted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from oncallnova.db.models.base import Base
from oncallnova.db.types import IdColumnType, UTCDateTime


class MetricIncident(Base):
    """The furthest state of one incident the metrics worker has counted. Every series change
    is the difference between this row before and after an event, so an event seen twice
    (or out of order) changes nothing the second time."""

    __tablename__ = "metric_incidents"

    incident_id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16))
    service_id: Mapped[str] = mapped_column(IdColumnType())
    # "" until the row has been counted (a placeholder taken to lock the incident).
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MetricSeries(Base):
    """One value of one series: `name` + canonical `labels` (`severity=critical`). Histogram
    buckets are stored per bucket (not cumulative) as `…_bucket` with an `le` label."""

    __tablename__ = "metric_series"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)


class MetricSeenMessage(Base):
    """A received-alert message already counted (its `Nats-Msg-Id`)."""

    __tablename__ = "metric_seen_messages"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
