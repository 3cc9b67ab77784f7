"""Paging messages: a notification to send, and one outgoing webhook delivery.

`notification.requested.v1.<channel>`: emitted by the escalator, consumed by the notifier.
`webhook.delivery_requested.v1.<subscription_id>`: emitted by the webhook fan-out, consumed by
the webhooker. Both carry everything the sender needs, so a retry sends the same content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.incident_v1 import IncidentV1, Urgency

Channel = Literal["email"]
CHANNELS: tuple[str, ...] = ("email",)


class NotificationRequestedV1(BaseModel):
    """Notify one user, by one contact method, about one incident at one escalation step."""

    model_config = ConfigDict(frozen=True)

    notification_id: str = Field(
        max_length=200,
        description="Idempotency key: n:1:<incident>:<step>:<user>:<rule>:<contact method>.",
    )
    channel: Channel
    address: str = Field(min_length=3, max_length=320)
    user_id: str
    rule_id: str = Field(max_length=64)
    step: str = Field(max_length=64, description="Escalation step, e.g. `e3.l2` (epoch, level).")
    urgency: Urgency
    reason: str = Field(max_length=500, description="Why this person is paged, for the message.")
    incident: IncidentV1


WebhookEventType = Literal[
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.reassigned",
    "incident.escalated",
    "incident.priority_updated",
    "incident.annotated",
]


class WebhookEventV1(BaseModel):
    """PagerDuty's v3 webhook event, exactly as sent inside `{"event": …}`."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable across retries: receivers deduplicate on it.")
    event_type: WebhookEventType
    resource_type: Literal["incident"] = "incident"
    occurred_at: datetime
    agent: dict[str, Any] | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any]


class WebhookDeliveryRequestedV1(BaseModel):
    """Deliver one event to one subscription."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    event: WebhookEventV1
