"""Paging: escalation timers, notification rules and attempts, the capture inbox, webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from oncallnova.db.models.base import Base
from oncallnova.db.models.incidents import AutoBigInt
from oncallnova.db.types import IdColumnType, JSONType, UTCDateTime, new_id, utcnow


class EscalationTimer(Base):
    """A durable timer: at `due_at` the escalator acts, if the incident's epoch still matches.

    The id is derived from what the timer is for (incident, epoch, kind, step), so scheduling it
    twice after a redelivery inserts nothing."""

    __tablename__ = "escalation_timers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    incident_id: Mapped[str] = mapped_column(IdColumnType())
    # escalate | ack_timeout | auto_resolve | notify
    kind: Mapped[str] = mapped_column(String(16))
    epoch: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        # The poller's only query: pending timers in due order.
        Index(
            "ix_escalation_timers_pending",
            "due_at",
            postgresql_where=text("fired_at IS NULL"),
            sqlite_where=text("fired_at IS NULL"),
        ),
        Index("ix_escalation_timers_incident", "incident_id"),
    )


class NotificationRule(Base):
    """PagerDuty's assignment notification rule: which contact method, how late, which urgency."""

    __tablename__ = "notification_rules"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_type: Mapped[str] = mapped_column(String(32))
    contact_address: Mapped[str] = mapped_column(String(320))
    start_delay_in_minutes: Mapped[int] = mapped_column(Integer, default=0)
    urgency: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NotificationRuleSet(Base):
    """Marks a user whose default rules were written, so deleting them all is respected."""

    __tablename__ = "notification_rule_sets"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Notification(Base):
    """One notification and its delivery state; the id is its idempotency key."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    incident_id: Mapped[str] = mapped_column(IdColumnType(), index=True)
    user_id: Mapped[str] = mapped_column(IdColumnType())
    rule_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))
    step: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(255))
    # pending | sending | sent | failed
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UsedActionToken(Base):
    """An email action link already used: each works once."""

    __tablename__ = "used_action_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[str] = mapped_column(IdColumnType())
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PlatformSecret(Base):
    """A secret every process of one deployment shares (e.g. the key of email action links)."""

    __tablename__ = "platform_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class CapturedMail(Base):
    """A message the embedded capture inbox accepted (no SMTP_HOST configured)."""

    __tablename__ = "captured_mail"

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    message_id: Mapped[str | None] = mapped_column(String(255))
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_to: Mapped[list[str]] = mapped_column(JSONType, default=list)
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookSubscription(Base):
    """A PagerDuty v3-style webhook subscription."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    filter_type: Mapped[str] = mapped_column(String(32))
    filter_id: Mapped[str | None] = mapped_column(String(64))
    custom_headers: Mapped[list[dict[str, str]]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookAttempt(Base):
    """One HTTP attempt to deliver one event to one subscription."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(IdColumnType(), index=True)
    event_id: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[str | None] = mapped_column(IdColumnType())
    attempt: Mapped[int] = mapped_column(Integer)
    # delivered | retrying | failed | refused
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_webhook_attempts_event", "subscription_id", "event_id"),)
