"""Lifecycle: the only writer of incidents. Loads and locks, applies the incident rules
(`oncallnova/incidents/rules.py`), writes, and hands the resulting events to the runtime.

Consumes: `incident.command.v1.*` (durable `lifecycle`) — triggers from the correlator,
          acknowledge/resolve/escalate/reassign/add_note from edges and the escalator.
Emits:    `incident.<event>.v1.<incident_id>` after the batch's transaction commits.
Idempotency: every effect is keyed by its source — the alert id, or the command's message id
          — in the timeline's unique (incident, kind, source) and the alerts' primary key. A
          redelivered command changes nothing and re-emits its event under the same
          `Nats-Msg-Id`, which JetStream drops if the first emission had arrived. Alerts
          joining one incident in one batch are one fact (`IncidentBook`), keyed by the first
          of them; the others are known done by their rows in the alerts table.
Plans:    the batch's lookups run with sequential scans off on PostgreSQL
          (`repo.index_lookups_only`): every one of them has an index, and a storm starting
          on tables without statistics must not be planned as a full scan per batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova.bus.connection import Outgoing
from oncallnova.bus.runtime import Delivery, UnitOfWork, Worker, parse
from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo
from oncallnova.incidents.rules import Fact, IncidentBook, IncidentState
from schemas.alert_v1 import CanonicalAlertV1
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentCommandV1, IncidentEventV1, IncidentV1
from schemas.subjects import INCIDENT_EVENT

log = logging.getLogger(__name__)


@dataclass
class PendingEvent:
    """A fact to publish once the batch has committed, with the incident right after it."""

    fact: Fact
    incident: IncidentState
    causation: Envelope


# The number is filled in at publish time: new incidents get theirs when they are inserted.
SNAPSHOT_FIELDS = tuple(name for name in IncidentV1.model_fields if name != "number")


class BatchApplier:
    """Loads and locks what one batch touches, applies the incident rules, writes the result."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now

    async def apply(self, batch: list[Delivery[IncidentCommandV1]]) -> list[PendingEvent]:
        """Apply each command of the batch in order inside the session's transaction."""
        await repo.index_lookups_only(self.session)
        sources = {source_id(d): d for d in batch}  # duplicates inside one batch collapse
        done, recorded_alerts = await repo.already_applied(
            self.session,
            sources,
            [d.data.alert.alert_id for d in sources.values() if d.data.alert],
        )
        book = await self._load(sources, done)
        events: list[PendingEvent] = []
        for entry in done:
            # Redelivery after a commit: emit again under the same message id.
            fact = Fact(
                entry.kind, entry.actor, entry.source_id, "", alert_id=entry.data.get("alert_id"),
                note=entry.data.get("note"), notify=entry.data.get("notify", True),
                alerts=entry.data.get("alerts", 1), last_alert_id=entry.data.get("last_alert_id"),
            )  # fmt: skip
            incident = book.by_id[entry.incident_id]
            events.append(PendingEvent(fact, incident, sources[entry.source_id].envelope))
        skip = {e.source_id for e in done} | recorded_alerts
        for src, delivery in sources.items():
            if src not in skip:
                book.apply(delivery.data, src, self.now)
        numbers = await self._write(book)
        for (_, fact), incident in zip(book.facts, book.snapshots, strict=True):
            if not incident.number:
                incident = replace(incident, number=numbers[incident.id])
            events.append(PendingEvent(fact, incident, sources[fact.source_id].envelope))
        return events

    async def _load(
        self, sources: dict[str, Delivery[IncidentCommandV1]], done: list[Any]
    ) -> IncidentBook:
        """The incidents the batch names by id or by open dedup key, locked."""
        wanted = {d.data.incident_id for d in sources.values()} | {e.incident_id for e in done}
        keys = {
            (d.data.alert.service_id, d.data.alert.dedup_key)
            for d in sources.values()
            if d.data.alert
        }
        # The lock query's key condition is a superset: keep exact pairs open by key only.
        loaded = await repo.lock_incidents(self.session, wanted, keys)
        return IncidentBook.of(i for i in loaded if i.id in wanted or i.key in keys)

    async def _write(self, book: IncidentBook) -> dict[str, int]:
        """Changed incidents, new ones (numbered in creation order), alerts, timeline."""
        # Updates first: a batch that resolves an open incident and then opens another on the
        # same key would otherwise insert the new one while the old is still open in the table,
        # and the open-incident unique index fails the whole batch.
        await repo.update_incidents(self.session, book.updated())
        numbers = await repo.insert_incidents(self.session, book.new())
        await repo.insert_alerts(
            self.session, [self._alert_row(a, i) for a, i in book.alert_incidents]
        )
        await repo.insert_timeline(self.session, [self._timeline_row(i, f) for i, f in book.facts])
        return numbers

    def _alert_row(self, alert: CanonicalAlertV1, incident_id: str | None) -> dict[str, Any]:
        return {
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

    def _timeline_row(self, incident_id: str, fact: Fact) -> dict[str, Any]:
        data: dict[str, Any] = {"notify": fact.notify}
        if fact.alert_id is not None:
            data["alert_id"] = fact.alert_id
        if fact.note is not None:
            data["note"] = fact.note
        if fact.alerts > 1:
            # Collapsed alerts: how many, and the last (every one is in the alerts table).
            data["alerts"] = fact.alerts
            data["last_alert_id"] = fact.last_alert_id
        return {
            "incident_id": incident_id,
            "at": self.now,
            "kind": fact.event,
            "actor": fact.actor,
            "message": fact.message,
            "source_id": fact.source_id,
            "data": data,
        }


def source_id(delivery: Delivery[IncidentCommandV1]) -> str:
    """What makes a command's effect unique: its alert, or the command message itself."""
    alert = delivery.data.alert
    return alert.alert_id if alert is not None else delivery.envelope.id


def to_outgoing(pending: PendingEvent) -> Outgoing:
    """The event for one fact, its id fixed by the fact's source so a retry is deduplicated."""
    fact, state = pending.fact, pending.incident
    # Built from state this worker just wrote: no need to validate it again (hot path).
    incident = IncidentV1.model_construct(
        **{name: getattr(state, name) for name in SNAPSHOT_FIELDS}, number=state.number
    )
    body = IncidentEventV1.model_construct(
        event=fact.event,
        incident=incident,
        actor=fact.actor,
        alert_id=fact.alert_id,
        note=fact.note,
        notify=fact.notify,
        alerts=fact.alerts,
        last_alert_id=fact.last_alert_id,
    )
    envelope = pending.causation.caused(
        INCIDENT_EVENT.type(fact.event), "lifecycle", id=f"{fact.source_id}:{fact.event}"
    )
    return Outgoing(
        INCIDENT_EVENT.subject(incident.id, event=fact.event),
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
        return parse(IncidentCommandV1, msg)

    async def handle(self, batch: list[Delivery[IncidentCommandV1]], uow: UnitOfWork) -> None:
        pending = await BatchApplier(uow.session, self.ctx.clock()).apply(batch)
        # Sent after the commit; ids fixed by source so a retry is deduplicated.
        uow.publish_all(to_outgoing(p) for p in pending)
