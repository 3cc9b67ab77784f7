"""Incident commands (requests) and events (facts).

Commands: `incident.command.v1.<incident_id>`, consumed by the lifecycle worker only.
Events:   `incident.<event>.v1.<incident_id>`, emitted by the lifecycle worker only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from schemas.alert_v1 import CanonicalAlertV1, Severity

IncidentStatus = Literal["triggered", "acknowledged", "resolved"]
Urgency = Literal["high", "low"]

CommandAction = Literal["trigger", "acknowledge", "resolve", "escalate", "reassign", "add_note"]

IncidentEventType = Literal[
    "triggered",
    "alert_attached",
    "acknowledged",
    "escalated",
    "reassigned",
    "resolved",
    "reopened",
    "note_added",
]
# Every fact the lifecycle worker can state; the INCIDENT_EVENTS stream binds exactly these.
INCIDENT_EVENT_TYPES: tuple[str, ...] = get_args(IncidentEventType)


class IncidentV1(BaseModel):
    """An incident as every API and event shows it (PagerDuty's words for the states)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    number: int
    title: str
    status: IncidentStatus
    severity: Severity
    urgency: Urgency
    service_id: str
    dedup_key: str
    alert_count: int
    assignee_id: str | None = None
    escalation_level: int = 0
    escalation_epoch: int = Field(
        default=0, description="Bumped by every change that ends an escalation wait (fencing)."
    )
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


class IncidentCommandV1(BaseModel):
    """A request to change an incident; the lifecycle worker decides whether it applies."""

    model_config = ConfigDict(frozen=True)

    action: CommandAction
    incident_id: str = Field(description="Target, or the correlator's candidate id for a trigger.")
    service_id: str | None = None
    dedup_key: str | None = Field(default=None, max_length=255)
    alert: CanonicalAlertV1 | None = Field(
        default=None, description="The alert behind a trigger/acknowledge/resolve from a producer."
    )
    actor: str = Field(default="system", description="user:<id>, integration:<service>, system:*")
    note: str | None = Field(default=None, max_length=65536)
    assignee_id: str | None = None
    escalation_level: int | None = Field(default=None, ge=0)
    escalation_epoch: int | None = Field(
        default=None,
        ge=0,
        description="Fence: applied only while the incident's escalation epoch still equals it "
        "(escalator timers); None for people, whose commands always apply.",
    )


class IncidentEventV1(BaseModel):
    """A fact about an incident, with its state after the fact."""

    model_config = ConfigDict(frozen=True)

    event: IncidentEventType
    incident: IncidentV1
    actor: str
    alert_id: str | None = None
    note: str | None = None
    notify: bool = Field(
        default=True, description="False for alerts joining an acknowledged incident."
    )
    alerts: int = Field(
        default=1,
        ge=1,
        description="How many alerts an alert_attached fact stands for: consecutive alerts "
        "joining one incident in one batch are one fact; alert_id is the first of them.",
    )
    last_alert_id: str | None = Field(
        default=None, description="The last of the alerts collapsed into this fact (alerts > 1)."
    )
