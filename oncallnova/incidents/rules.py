"""Every rule of what happens to an incident, as pure functions: no I/O, no clock of their own.

Given the incident as it is (or none), a command, the time and its idempotency key, `decide`
returns the incident as it becomes and the facts to record (each fact is one timeline entry and
one `incident.<event>.v1` event). Incident identity lives here too: the correlator's candidate
id, the id of a key whose window has closed, and the id a trigger takes when its candidate
already names a resolved incident. `IncidentBook` applies commands in order to a working set;
the lifecycle worker loads and locks that set, and writes and publishes what the book records.

PagerDuty's semantics: acknowledge/resolve of something not open are accepted and dropped;
escalate and reassign put an acknowledged incident back to triggered; notes go anywhere; an
alert never reopens a resolved incident (a trigger opens a new one); while acknowledged,
further alerts are recorded but notify nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from schemas.alert_v1 import CanonicalAlertV1, Severity
from schemas.incident_v1 import (
    CommandAction,
    IncidentCommandV1,
    IncidentEventType,
    Urgency,
)

# Ids derived from alerts and keys are stable across redeliveries and correlator copies.
INCIDENT_ID_NAMESPACE = uuid.UUID("6f1c4a52-93f2-4c1e-9a59-0c3f9d7a1b11")
OPEN_STATUSES: tuple[str, ...] = ("triggered", "acknowledged")
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}
MESSAGES: dict[str, str] = {
    "triggered": "Incident triggered",
    "alert_attached": "Alert attached",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "escalated": "Escalated",
    "reassigned": "Reassigned",
    "note_added": "Note added",
}


# --- identity -------------------------------------------------------------------------------


def candidate_incident_id(alert_id: str) -> str:
    """The incident a trigger opens if its correlation window is new."""
    return str(uuid.uuid5(INCIDENT_ID_NAMESPACE, "candidate:" + alert_id))


def unmatched_incident_id(service_id: str, dedup_key: str) -> str:
    """A stable id for an acknowledge/resolve whose window has closed: the lifecycle then finds
    the open incident by dedup key."""
    return str(uuid.uuid5(INCIDENT_ID_NAMESPACE, f"key:{service_id}:{dedup_key}"))


def reopened_key_incident_id(alert_id: str) -> str:
    """The id a trigger takes when its candidate names a resolved incident (never reopened)."""
    return str(uuid.uuid5(INCIDENT_ID_NAMESPACE, alert_id))


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


# --- derived values ---------------------------------------------------------------------------


def urgency_for(severity: Severity | str) -> Urgency:
    """critical and error page now (high); warning and info can wait (low)."""
    return "high" if SEVERITY_RANK.get(severity, 2) >= SEVERITY_RANK["error"] else "low"


def higher_severity(current: str, incoming: str) -> str:
    """An incident's severity is the worst of its alerts."""
    return incoming if SEVERITY_RANK.get(incoming, 0) > SEVERITY_RANK.get(current, 0) else current


# --- the incident and what happens to it ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentState:
    """One incident as the rules see it. Its fields are the incidents table's columns, in order
    (a unit test keeps them equal), so a row becomes a state without a mapping step."""

    id: str
    number: int  # 0 until the database numbers a new incident
    title: str
    status: str
    severity: str
    urgency: str
    service_id: str
    dedup_key: str
    fingerprint: str
    alert_count: int
    assignee_id: str | None
    escalation_level: int
    created_at: datetime
    updated_at: datetime
    last_alert_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    escalation_epoch: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.service_id, self.dedup_key)

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in STATE_FIELDS}


STATE_FIELDS = tuple(f.name for f in fields(IncidentState))


@dataclass(frozen=True, slots=True)
class Fact:
    """Something that happened to an incident: one timeline entry and one event."""

    event: IncidentEventType
    actor: str
    source_id: str  # what makes the fact unique: the alert id or the command's message id
    message: str
    alert_id: str | None = None
    note: str | None = None
    notify: bool = True
    # An `alert_attached` fact may stand for several consecutive alerts of one batch
    # (`merge_attached`): `alert_id` is the first of them, `last_alert_id` the last.
    alerts: int = 1
    last_alert_id: str | None = None


def attached_message(alerts: int, summary: str) -> str:
    """The timeline line of an `alert_attached` fact: "N alerts attached" once collapsed."""
    head = MESSAGES["alert_attached"] if alerts == 1 else f"{alerts} alerts attached"
    return f"{head}: {summary}"


def can_merge(earlier: Fact, later: Fact) -> bool:
    """Two facts of one incident can be one timeline entry: both alerts joining it, both
    notifying alike (an acknowledge in between would have been a fact of its own). Both must
    carry their alert: a folded fact's source is known done only through its alert's row, so a
    command without one (its id lives in the timeline alone) always keeps a fact of its own."""
    return (
        earlier.event == later.event == "alert_attached"
        and earlier.alert_id is not None
        and later.alert_id is not None
        and earlier.notify == later.notify
        and earlier.actor == later.actor
    )


def merge_attached(earlier: Fact, later: Fact, summary: str) -> Fact:
    """One fact for consecutive alerts joining an incident, as PagerDuty collapses them into
    "N alerts": the first alert's id stays the fact's source (its idempotency key), the last
    one is kept beside it, `summary` is the last alert's."""
    alerts = earlier.alerts + later.alerts
    return replace(
        earlier,
        message=attached_message(alerts, summary),
        alerts=alerts,
        last_alert_id=later.last_alert_id or later.alert_id,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """The incident as it becomes (None: the command named none) and the facts to record."""

    incident: IncidentState | None
    facts: tuple[Fact, ...] = ()
    opened: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.facts)


# Facts that end an escalation wait: each bumps the incident's escalation epoch, which fences
# the escalator's timers (a command carrying an older epoch is dropped, under the row lock).
EPOCH_EVENTS = frozenset({"acknowledged", "resolved", "escalated", "reassigned"})


def transition(status: str, action: CommandAction) -> tuple[str, IncidentEventType | None]:
    """The status `action` leads to from `status`, and the fact it states (None: dropped)."""
    open_ = is_open(status)
    if action == "trigger":
        # An alert joining an open incident; for a resolved one a new incident opens instead.
        return (status, "alert_attached") if open_ else (status, None)
    if action == "acknowledge":
        return ("acknowledged", "acknowledged") if status == "triggered" else (status, None)
    if action == "resolve":
        return ("resolved", "resolved") if open_ else (status, None)
    if action == "escalate":
        return ("triggered", "escalated") if open_ else (status, None)
    if action == "reassign":
        return ("triggered", "reassigned") if open_ else (status, None)
    if action == "add_note":
        return (status, "note_added")
    raise ValueError(f"unknown action {action!r}")


def target_for_alert(
    alert: CanonicalAlertV1,
    candidate: IncidentState | None,
    open_for_key: IncidentState | None,
) -> IncidentState | None:
    """The open incident an alert applies to: the one open on its dedup key, else the
    correlator's candidate if that is open on the same key; None when nothing is open."""
    if open_for_key is not None:
        return open_for_key
    if candidate is not None and is_open(candidate.status):
        if candidate.key == (alert.service_id, alert.dedup_key):
            return candidate
    return None


def open_incident(
    alert: CanonicalAlertV1, candidate_id: str, *, candidate_taken: bool, now: datetime
) -> IncidentState:
    """A new incident for a trigger with nothing open on its key."""
    return IncidentState(
        id=reopened_key_incident_id(alert.alert_id) if candidate_taken else candidate_id,
        number=0,
        title=alert.summary,
        status="triggered",
        severity=alert.severity,
        urgency=urgency_for(alert.severity),
        service_id=alert.service_id,
        dedup_key=alert.dedup_key,
        fingerprint=alert.fingerprint,
        alert_count=1,
        assignee_id=None,
        escalation_level=0,
        created_at=now,
        updated_at=now,
        last_alert_at=now,
    )


def decide(
    incident: IncidentState | None,
    command: IncidentCommandV1,
    *,
    source_id: str,
    now: datetime,
    candidate_taken: bool = False,
) -> Outcome:
    """What `command` does to `incident` (for an alert: its target, from `target_for_alert`).

    `candidate_taken` says the command's incident id already names an incident, so a trigger
    with nothing open must take another id."""
    alert = command.alert
    if alert is not None:
        actor = f"integration:{alert.service_id}"
        if alert.action == "trigger":
            if incident is None:
                opened = open_incident(
                    alert, command.incident_id, candidate_taken=candidate_taken, now=now
                )
                return Outcome(opened, (_fact("triggered", actor, source_id, alert),), True)
            attached = replace(
                incident,
                alert_count=incident.alert_count + 1,
                severity=(severity := higher_severity(incident.severity, alert.severity)),
                urgency=urgency_for(severity),
                last_alert_at=now,
                updated_at=now,
            )
            # While acknowledged, further alerts are recorded but notify nobody.
            notify = incident.status == "triggered"
            return Outcome(
                attached, (_fact("alert_attached", actor, source_id, alert, notify=notify),)
            )
        if incident is None:
            return Outcome(None)  # acknowledge/resolve with nothing open: accepted, dropped
        return _transition(incident, alert.action, actor, source_id, now, alert=alert)  # type: ignore[arg-type]
    if incident is None:
        return Outcome(None)
    return _transition(incident, command.action, command.actor, source_id, now, command=command)


def _transition(
    incident: IncidentState,
    action: CommandAction,
    actor: str,
    source_id: str,
    now: datetime,
    *,
    alert: CanonicalAlertV1 | None = None,
    command: IncidentCommandV1 | None = None,
) -> Outcome:
    fence = command.escalation_epoch if command is not None else None
    if fence is not None and fence != incident.escalation_epoch:
        # An escalator timer set before the last acknowledge/escalate/reassign: stale.
        return Outcome(incident)
    status, event = transition(incident.status, action)
    if event is None:
        return Outcome(incident)
    changes: dict[str, Any] = {"status": status, "updated_at": now}
    if event in EPOCH_EVENTS:
        changes["escalation_epoch"] = incident.escalation_epoch + 1
    if event == "acknowledged":
        changes["acknowledged_at"] = now
    elif event == "resolved":
        changes["resolved_at"] = now
    elif event == "escalated":
        requested = command.escalation_level if command else None
        changes["escalation_level"] = (
            requested if requested is not None else incident.escalation_level + 1
        )
    elif event == "reassigned" and command is not None:
        changes["assignee_id"] = command.assignee_id
    note = command.note if command else None
    return Outcome(
        replace(incident, **changes), (_fact(event, actor, source_id, alert, note=note),)
    )


def _fact(
    event: IncidentEventType,
    actor: str,
    source_id: str,
    alert: CanonicalAlertV1 | None,
    *,
    note: str | None = None,
    notify: bool = True,
) -> Fact:
    message = MESSAGES[event] + (f": {alert.summary}" if alert is not None else "")
    return Fact(
        event,
        actor,
        source_id,
        message,
        alert_id=alert.alert_id if alert else None,
        note=note,
        notify=notify,
    )


# --- a working set, commands applied in order -----------------------------------------------


@dataclass
class IncidentBook:
    """Incidents a batch of commands touches, with each command's outcome applied in order.

    Filled with the incidents named by id and those open on the batch's dedup keys; records
    which are new, which changed, every fact (with the incident right after it) and which
    incident each alert was stored against. Alerts that join an incident one after another
    are recorded as one fact (`merge_attached`): a storm on one key costs one timeline entry
    and one event per batch, not per alert, while every alert is still stored and counted.
    No I/O: the lifecycle worker loads and writes, a dry-run replay uses it on a scratch
    copy (`apply`'s outcome is still per command)."""

    by_id: dict[str, IncidentState] = field(default_factory=dict)
    open_by_key: dict[tuple[str, str], IncidentState] = field(default_factory=dict)
    new_ids: list[str] = field(default_factory=list)
    changed_ids: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    facts: list[tuple[str, Fact]] = field(default_factory=list)  # (incident id, fact)
    snapshots: list[IncidentState] = field(default_factory=list)  # incident right after a fact
    alert_incidents: list[tuple[CanonicalAlertV1, str | None]] = field(default_factory=list)
    last_fact: dict[str, int] = field(default_factory=dict)  # incident id -> index in facts

    @classmethod
    def of(cls, incidents: Iterable[IncidentState]) -> IncidentBook:
        book = cls()
        for incident in incidents:
            book.by_id[incident.id] = incident
            if is_open(incident.status):
                book.open_by_key[incident.key] = incident
        return book

    def apply(self, command: IncidentCommandV1, source_id: str, now: datetime) -> Outcome:
        """Apply one command; the book remembers its effect."""
        alert = command.alert
        candidate = self.by_id.get(command.incident_id)
        if alert is not None:
            target = target_for_alert(
                alert, candidate, self.open_by_key.get((alert.service_id, alert.dedup_key))
            )
        else:
            target = candidate
        outcome = decide(
            target, command, source_id=source_id, now=now, candidate_taken=candidate is not None
        )
        incident = outcome.incident
        if alert is not None:
            self.alert_incidents.append((alert, incident.id if incident else None))
        if incident is None or not outcome.changed:
            return outcome
        self.by_id[incident.id] = incident
        if is_open(incident.status):
            self.open_by_key[incident.key] = incident
        elif self.open_by_key.get(incident.key, incident).id == incident.id:
            self.open_by_key.pop(incident.key, None)
        if outcome.opened:
            self.new_ids.append(incident.id)
        self.changed_ids[incident.id] = None
        for fact in outcome.facts:
            self._record(incident, fact, alert.summary if alert is not None else "")
        return outcome

    def _record(self, incident: IncidentState, fact: Fact, summary: str) -> None:
        """Append `fact`, or fold it into the incident's latest fact when both are alerts
        joining it; that fact's snapshot becomes the incident as it is now."""
        index = self.last_fact.get(incident.id)
        if index is not None:
            earlier = self.facts[index][1]
            if can_merge(earlier, fact):
                self.facts[index] = (incident.id, merge_attached(earlier, fact, summary))
                self.snapshots[index] = incident
                return
        self.last_fact[incident.id] = len(self.facts)
        self.facts.append((incident.id, fact))
        self.snapshots.append(incident)

    def new(self) -> list[IncidentState]:
        """Incidents opened by the batch, in creation order, as they are now."""
        return [self.by_id[i] for i in self.new_ids]

    def updated(self) -> list[IncidentState]:
        """Incidents that existed before the batch and changed, as they are now."""
        new = set(self.new_ids)
        return [self.by_id[i] for i in self.changed_ids if i not in new]
