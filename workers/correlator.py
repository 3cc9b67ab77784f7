"""Correlator: decides which incident each fingerprinted alert belongs to.

Consumes: `alert.fingerprinted.v1.*` (durable `correlator`).
Emits:    `incident.command.v1.<incident_id>` — a trigger/acknowledge/resolve carrying the alert.
          Change events are not incidents: they are recorded on the service's timeline here.
Idempotency: the candidate incident id is derived from the alert id, and the command's
          `Nats-Msg-Id` is the alert id, so a redelivery yields the same command (dropped by
          JetStream's duplicate window, and by the lifecycle worker's alert key after it).

The window (CORRELATION_WINDOW, default 5 min) is taken atomically per (service, fingerprint):
every alert in it goes to one incident id, whichever correlator copy handles it. After it
expires the lifecycle worker's open-incident index still joins alerts to an open incident,
as PagerDuty's dedup key does; an alert never reopens a resolved incident.
"""

from __future__ import annotations

from nats.aio.msg import Msg

from oncallnova.bus.connection import Outgoing
from oncallnova.bus.runtime import Delivery, UnitOfWork, Worker, parse
from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo
from oncallnova.incidents.correlation import (
    command_incident_id,
    window_claims,
    window_peeks,
)
from schemas.alert_v1 import CanonicalAlertV1
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentCommandV1
from schemas.subjects import INCIDENT_COMMAND
from workers.windows import WindowStore


class CorrelatorWorker(Worker[CanonicalAlertV1]):
    consumer = "correlator"

    def __init__(self, ctx: AppContext, windows: WindowStore) -> None:
        self.ctx = ctx
        self.windows = windows

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> CanonicalAlertV1:
        return parse(CanonicalAlertV1, msg)

    async def stop(self) -> None:
        await self.windows.close()

    async def handle(self, batch: list[Delivery[CanonicalAlertV1]], uow: UnitOfWork) -> None:
        alerts = [d for d in batch if d.data.action != "change"]
        changes = [d for d in batch if d.data.action == "change"]
        if changes:
            await self._record_changes(changes, uow)
        # The same pure decision a dry-run replay makes (oncallnova/incidents/correlation.py).
        held = await self.windows.claim(
            window_claims(d.data for d in alerts), self.ctx.settings.correlation_window
        )
        held.update(await self.windows.peek(window_peeks((d.data for d in alerts), held)))
        for delivery in alerts:
            alert = delivery.data
            incident_id = command_incident_id(alert, held)
            command = IncidentCommandV1(
                action=alert.action,  # type: ignore[arg-type]
                incident_id=incident_id,
                service_id=alert.service_id,
                dedup_key=alert.dedup_key,
                alert=alert,
                actor=f"integration:{alert.service_id}",
            )
            envelope = delivery.envelope.caused(
                INCIDENT_COMMAND.type(), "correlator", id=f"cmd:{alert.alert_id}"
            )
            uow.publish(Outgoing.of(INCIDENT_COMMAND, incident_id, command, envelope))

    async def _record_changes(
        self, changes: list[Delivery[CanonicalAlertV1]], uow: UnitOfWork
    ) -> None:
        now = self.ctx.clock()
        rows = [
            {
                "id": d.data.alert_id,
                "service_id": d.data.service_id,
                "summary": d.data.summary,
                "source": d.data.source,
                "occurred_at": d.data.occurred_at,
                "received_at": now,
                "payload": d.data.model_dump(mode="json", by_alias=True),
            }
            for d in changes
        ]
        await repo.insert_change_events(uow.session, rows)
