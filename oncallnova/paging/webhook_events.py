"""Incident facts as PagerDuty v3 webhook events."""

from __future__ import annotations

import uuid
from typing import Any, get_args

from schemas.incident_v1 import IncidentEventV1
from schemas.paging_v1 import WebhookEventType

EVENT_ID_NAMESPACE = uuid.UUID("0b5d2c8e-6f0a-4d5e-9a51-2f4c7e1d9b30")
ACK_TIMEOUT_ACTOR = "system:acknowledgement_timeout"

# Every v3 event type a subscription may name (the model's Literal is their one spelling).
SUBSCRIBABLE: tuple[str, ...] = get_args(WebhookEventType)


def _v3(name: str) -> str:
    return next(t for t in SUBSCRIBABLE if t.split(".", 1)[1] == name)


# Facts with a v3 counterpart; an alert joining an incident has none.
EVENT_TYPES = {
    fact: _v3(name)
    for fact, name in {
        "triggered": "triggered",
        "acknowledged": "acknowledged",
        "resolved": "resolved",
        "reopened": "reopened",
        "reassigned": "reassigned",
        "escalated": "escalated",
        "note_added": "annotated",
    }.items()
}
UNACKNOWLEDGED = _v3("unacknowledged")


def webhook_event_type(event: IncidentEventV1) -> str | None:
    """The v3 event type of a fact, None when it has none."""
    if event.event == "escalated" and event.actor == ACK_TIMEOUT_ACTOR:
        return UNACKNOWLEDGED  # the acknowledgement ran out: triggered again
    return EVENT_TYPES.get(event.event)


def event_id(source_message_id: str) -> str:
    """Stable id of the webhook event for one incident fact (same on every retry)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, source_message_id))


def agent_of(actor: str) -> dict[str, Any] | None:
    """The v3 `agent` reference for a timeline actor (`user:<id>`, `integration:<service>`)."""
    kind, _, ref = actor.partition(":")
    if kind == "user" and ref and ref != "anonymous":
        return {"id": ref, "type": "user_reference"}
    if kind == "integration" and ref:
        return {"id": ref, "type": "service_reference"}
    return None


def incident_data(
    event: IncidentEventV1, public_url: str, service_name: str | None, policy_id: str | None
) -> dict[str, Any]:
    """The incident as v3's `data` (PagerDuty's field names)."""
    incident = event.incident
    base = public_url.rstrip("/")
    return {
        "id": incident.id,
        "type": "incident",
        "self": f"{base}/api/v1/incidents/{incident.id}",
        "html_url": f"{base}/#/incidents/{incident.id}",
        "number": incident.number,
        "status": incident.status,
        "incident_key": incident.dedup_key,
        "created_at": incident.created_at.isoformat().replace("+00:00", "Z"),
        "title": incident.title,
        "urgency": incident.urgency,
        "priority": None,
        "service": {
            "id": incident.service_id,
            "type": "service_reference",
            "summary": service_name,
        },
        "assignees": (
            [{"id": incident.assignee_id, "type": "user_reference"}] if incident.assignee_id else []
        ),
        "escalation_policy": (
            {"id": policy_id, "type": "escalation_policy_reference"} if policy_id else None
        ),
        "teams": [],
        "conference_bridge": None,
        "resolve_reason": None,
    }
