"""The incident state machine, triggered → acknowledged → resolved, as a pure function.

PagerDuty's semantics: acknowledge/resolve of something not open is accepted and dropped;
escalate and reassign put an acknowledged incident back to triggered; notes go anywhere.
A trigger never reopens a resolved incident: it opens a new one (decided by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.alert_v1 import Severity
from schemas.incident_v1 import CommandAction, IncidentEventType, IncidentStatus, Urgency

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}


@dataclass(frozen=True)
class Decision:
    """What a command does to an incident in a given status: new status and the fact to emit."""

    status: IncidentStatus
    event: IncidentEventType | None  # None: accepted and dropped, nothing changes

    @property
    def changes(self) -> bool:
        return self.event is not None


def decide(status: IncidentStatus, action: CommandAction) -> Decision:
    """The effect of `action` on an existing incident in `status`."""
    open_ = status != "resolved"
    if action == "trigger":
        # An alert joining an open incident; for a resolved one the caller opens a new incident.
        return Decision(status, "alert_attached") if open_ else Decision(status, None)
    if action == "acknowledge":
        return (
            Decision("acknowledged", "acknowledged")
            if status == "triggered"
            else Decision(status, None)
        )
    if action == "resolve":
        return Decision("resolved", "resolved") if open_ else Decision(status, None)
    if action == "escalate":
        return Decision("triggered", "escalated") if open_ else Decision(status, None)
    if action == "reassign":
        return Decision("triggered", "reassigned") if open_ else Decision(status, None)
    if action == "add_note":
        return Decision(status, "note_added")
    raise ValueError(f"unknown action {action!r}")


def urgency_for(severity: Severity | str) -> Urgency:
    """critical and error page now (high); warning and info can wait (low)."""
    return "high" if SEVERITY_RANK.get(severity, 2) >= SEVERITY_RANK["error"] else "low"


def higher_severity(current: str, incoming: str) -> str:
    """An incident's severity is the worst of its alerts."""
    return incoming if SEVERITY_RANK.get(incoming, 0) > SEVERITY_RANK.get(current, 0) else current
