"""Lifecycle: the incident state machine and the only writer of incidents.

Consumes: `incident.command.v1.*` (durable `lifecycle`) — triggers from the correlator,
          acknowledge/resolve/escalate/reassign/add_note from edges and the escalator.
Emits:    `incident.<event>.v1.<incident_id>` after the batch's transaction commits.
Idempotency: every effect is keyed by its source — the alert id, or the command's message id
          — in the timeline's unique (incident, kind, source) and the alerts' primary key. A
          redelivered command changes nothing and re-emits its event under the same
          `Nats-Msg-Id`, which JetStream drops if the first emission had arrived.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.aio.msg import Msg
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova.bus.connection import Outgoing
from oncallnova.bus.runtime import Delivery, InvalidMessage, UnitOfWork, Worker
from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo
from oncallnova.db.repositories.incidents import IncidentRecord
from oncallnova.incidents.state import decide, higher_severity, urgency_for
from schemas.alert_v1 import CanonicalAlertV1
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentCommandV1, IncidentEventV1, IncidentV1
from schemas.subjects import INCIDENT_EVENT

log = logging.getLogger(__name__)

# Incident ids derived from an alert id are stable across redeliveries.
INCIDENT_ID_NAMESPACE = uuid.UUID("6f1c4a52-93f2-4c1e-9a59-0c3f9d7a1b11")

MESSAGES = {
    "triggered": "Incident triggered",
    "alert_attached": "Alert attached",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "escalated": "Escalated",
    "reassigned": "Reassigned",
    "note_added": "Note added",
}


# Facts that end an escalation wait: each bumps the incident's escalation epoch, which fences
# the escalator's timers (a step set under an older epoch is dropped here, under the row lock).
EPOCH_EVENTS = frozenset({"acknowledged", "resolved", "escalated", "reassigned"})


@dataclass
class PendingEvent:
    """A fact to publish once the batch has committed."""

    source_id: str
    event: str
    incident: IncidentRecord
    snapshot: dict[str, Any]
    actor: str
    causation: Envelope
    alert_id: str | None = None
    note: str | None = None
    notify: bool = True


# The number is filled in at publish time: new incidents get theirs after the batch is applied.
SNAPSHOT_FIELDS = tuple(name for name in IncidentV1.model_fields if name != "number")


def snapshot(incident: IncidentRecord) -> dict[str, Any]:
    """The incident's fields now (events carry the state right after their fact)."""
    return {name: getattr(incident, name) for name in SNAPSHOT_FIELDS}


class BatchApplier:
    """Applies one batch of commands inside one transaction."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.incidents: dict[str, IncidentRecord] = {}
        self.open_by_key: dict[tuple[str, str], IncidentRecord] = {}
        self.new: list[IncidentRecord] = []
        self.changed: dict[str, IncidentRecord] = {}
        self.alert_rows: list[dict[str, Any]] = []
        self.timeline_rows: list[dict[str, Any]] = []
        self.events: list[PendingEvent] = []

    async def apply(self, batch: list[Delivery[IncidentCommandV1]]) -> list[PendingEvent]:
        """Load and lock what the batch touches, apply each command in order, write it all."""
        sources = {source_id(d): d for d in batch}  # duplicates inside one batch collapse
        done, recorded_alerts = await repo.already_applied(
            self.session,
            sources,
            [d.data.alert.alert_id for d in sources.values() if d.data.alert],
        )
        await self._lock(sources, done)
        for entry in done:
            # Redelivery after a commit: emit again under the same message id.
            incident = self.incidents[entry.incident_id]
            self.events.append(
                PendingEvent(
                    entry.source_id, entry.kind, incident, snapshot(incident),
                    entry.actor, sources[entry.source_id].envelope, note=entry.data.get("note"),
                    alert_id=entry.data.get("alert_id"), notify=entry.data.get("notify", True),
                )
            )  # fmt: skip
        skip = {e.source_id for e in done} | recorded_alerts
        for src, delivery in sources.items():
            if src in skip:
                continue
            if delivery.data.alert is not None:
                self._apply_alert(src, delivery, delivery.data.alert)
            else:
                self._apply_human(src, delivery)
        await self._write()
        return self.events

    async def _lock(self, sources: dict[str, Delivery[IncidentCommandV1]], done: list[Any]) -> None:
        """Load the incidents the batch names by id or by open dedup key, locked."""
        wanted = {d.data.incident_id for d in sources.values()} | {e.incident_id for e in done}
        keys = {
            (d.data.alert.service_id, d.data.alert.dedup_key)
            for d in sources.values()
            if d.data.alert
        }
        for record in await repo.lock_incidents(self.session, wanted, keys):
            self.incidents[record.id] = record
            key = (record.service_id, record.dedup_key)
            if key in keys and record.status != "resolved":
                self.open_by_key[key] = record

    async def _write(self) -> None:
        """New incidents (numbered in creation order), changed ones, alerts, timeline."""
        await repo.insert_incidents(self.session, self.new)  # numbers them, in creation order
        new_ids = {i.id for i in self.new}
        await repo.update_incidents(
            self.session, [r for r in self.changed.values() if r.id not in new_ids]
        )
        await repo.insert_alerts(self.session, self.alert_rows)
        await repo.insert_timeline(self.session, self.timeline_rows)

    def _apply_alert(
        self, src: str, delivery: Delivery[IncidentCommandV1], alert: CanonicalAlertV1
    ) -> None:
        key = (alert.service_id, alert.dedup_key)
        candidate = self.incidents.get(delivery.data.incident_id)
        target = self.open_by_key.get(key)
        if target is None and candidate is not None and candidate.status != "resolved":
            target = candidate if (candidate.service_id, candidate.dedup_key) == key else None
        actor = f"integration:{alert.service_id}"
        if alert.action == "trigger":
            if target is None:
                target = self._open(delivery.data.incident_id, alert)
                self._record(src, "triggered", target, actor, delivery.envelope, alert=alert)
            else:
                target.alert_count += 1
                target.severity = higher_severity(target.severity, alert.severity)
                target.urgency = urgency_for(target.severity)
                target.last_alert_at = self.now
                target.updated_at = self.now
                # While acknowledged, further alerts are recorded but notify nobody.
                notify = target.status == "triggered"
                self._record(
                    src,
                    "alert_attached",
                    target,
                    actor,
                    delivery.envelope,
                    alert=alert,
                    notify=notify,
                )
            self._alert_row(alert, target.id)
            return
        self._alert_row(alert, target.id if target else None)
        if target is None:
            log.info("%s for %s/%s: nothing open, dropped", alert.action, *key)
            return
        self._transition(src, target, alert.action, actor, delivery.envelope, alert=alert)  # type: ignore[arg-type]

    def _apply_human(self, src: str, delivery: Delivery[IncidentCommandV1]) -> None:
        command = delivery.data
        target = self.incidents.get(command.incident_id)
        if target is None:
            log.warning("%s for unknown incident %s: dropped", command.action, command.incident_id)
            return
        self._transition(
            src, target, command.action, command.actor, delivery.envelope, command=command
        )

    def _transition(
        self,
        src: str,
        target: IncidentRecord,
        action: Any,
        actor: str,
        causation: Envelope,
        *,
        alert: CanonicalAlertV1 | None = None,
        command: IncidentCommandV1 | None = None,
    ) -> None:
        fence = command.escalation_epoch if command is not None else None
        if fence is not None and fence != target.escalation_epoch:
            # A timer set before the last acknowledge/escalate/reassign: stale, does nothing.
            log.info("%s for %s: epoch %d is stale, dropped", action, target.id, fence)
            return
        decision = decide(target.status, action)  # type: ignore[arg-type]
        if decision.event is None:
            return
        if decision.event in EPOCH_EVENTS:
            target.escalation_epoch += 1
        target.status = decision.status
        target.updated_at = self.now
        if decision.event == "acknowledged":
            target.acknowledged_at = self.now
        elif decision.event == "resolved":
            target.resolved_at = self.now
            self.open_by_key.pop((target.service_id, target.dedup_key), None)
        elif decision.event == "escalated":
            requested = command.escalation_level if command else None
            target.escalation_level = (
                requested if requested is not None else target.escalation_level + 1
            )
        elif decision.event == "reassigned" and command is not None:
            target.assignee_id = command.assignee_id
        note = command.note if command else None
        self._record(src, decision.event, target, actor, causation, alert=alert, note=note)

    def _open(self, candidate_id: str, alert: CanonicalAlertV1) -> IncidentRecord:
        # The correlator's candidate id is used unless it already names another incident
        # (a resolved one: alerts never reopen it), then an id derived from the alert.
        taken = candidate_id in self.incidents
        incident_id = (
            str(uuid.uuid5(INCIDENT_ID_NAMESPACE, alert.alert_id)) if taken else candidate_id
        )
        incident = IncidentRecord(
            id=incident_id,
            number=0,  # numbered in creation order once the batch is applied
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
            created_at=self.now,
            updated_at=self.now,
            last_alert_at=self.now,
        )
        self.new.append(incident)
        self.incidents[incident.id] = incident
        self.open_by_key[(alert.service_id, alert.dedup_key)] = incident
        return incident

    def _alert_row(self, alert: CanonicalAlertV1, incident_id: str | None) -> None:
        self.alert_rows.append(
            {
                "id": alert.alert_id,
                "service_id": alert.service_id,
                "incident_id": incident_id,
                "action": alert.action,
                "fingerprint": alert.fingerprint,
                "dedup_key": alert.dedup_key,
                "summary": alert.summary,
                "severity": alert.severity,
                "source": alert.source,
                "source_format": alert.source_format,
                "occurred_at": alert.occurred_at,
                "received_at": self.now,
                "payload": alert.model_dump(mode="json", by_alias=True),
            }
        )

    def _record(
        self,
        src: str,
        event: str,
        incident: IncidentRecord,
        actor: str,
        causation: Envelope,
        *,
        alert: CanonicalAlertV1 | None = None,
        note: str | None = None,
        notify: bool = True,
    ) -> None:
        self.changed[incident.id] = incident
        data: dict[str, Any] = {"notify": notify}
        if alert is not None:
            data["alert_id"] = alert.alert_id
        if note is not None:
            data["note"] = note
        message = MESSAGES[event] + (f": {alert.summary}" if alert is not None else "")
        self.timeline_rows.append(
            {
                "incident_id": incident.id,
                "at": self.now,
                "kind": event,
                "actor": actor,
                "message": message,
                "source_id": src,
                "data": data,
            }
        )
        self.events.append(
            PendingEvent(
                src, event, incident, snapshot(incident), actor, causation,
                alert_id=alert.alert_id if alert else None, note=note, notify=notify,
            )
        )  # fmt: skip


def source_id(delivery: Delivery[IncidentCommandV1]) -> str:
    """What makes a command's effect unique: its alert, or the command message itself."""
    alert = delivery.data.alert
    return alert.alert_id if alert is not None else delivery.envelope.id


def to_outgoing(pending: PendingEvent) -> Outgoing:
    # Built from rows this worker just wrote: no need to validate them again (hot path).
    incident = IncidentV1.model_construct(**pending.snapshot, number=pending.incident.number)
    body = IncidentEventV1.model_construct(
        event=pending.event,
        incident=incident,
        actor=pending.actor,
        alert_id=pending.alert_id,
        note=pending.note,
        notify=pending.notify,
    )
    envelope = pending.causation.caused(
        INCIDENT_EVENT.type(pending.event), "lifecycle", id=f"{pending.source_id}:{pending.event}"
    )
    return Outgoing(
        INCIDENT_EVENT.subject(incident.id, event=pending.event),
        body.model_dump_json().encode(),
        envelope,
    )


class LifecycleWorker(Worker[IncidentCommandV1]):
    consumer = "lifecycle"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        # While one batch waits on PostgreSQL, another touching other incidents can run.
        # SQLite has one writer, so there it would only queue.
        self.concurrency = (
            1 if ctx.engine.dialect.name == "sqlite" else ctx.settings.lifecycle_concurrency
        )

    def conflict_keys(self, batch: list[Delivery[IncidentCommandV1]]) -> set[str] | None:
        """An alert's incident id and dedup key; a person's command runs alone, because its
        incident's dedup key is not in the command."""
        keys: set[str] = set()
        for delivery in batch:
            alert = delivery.data.alert
            if alert is None:
                return None
            keys.add(delivery.data.incident_id)
            keys.add(f"{alert.service_id}\x1f{alert.dedup_key}")
        return keys

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> IncidentCommandV1:
        try:
            return IncidentCommandV1.model_validate_json(msg.data)
        except ValidationError as error:
            raise InvalidMessage(str(error)) from error

    async def handle(self, batch: list[Delivery[IncidentCommandV1]], uow: UnitOfWork) -> None:
        pending = await BatchApplier(uow.session, self.ctx.clock()).apply(batch)
        # Sent after the commit; ids fixed by source so a retry is deduplicated.
        uow.publish_all(to_outgoing(p) for p in pending)
