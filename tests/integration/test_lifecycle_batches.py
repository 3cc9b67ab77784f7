"""One lifecycle batch that resolves an open incident and opens the next on the same key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from oncallnova.alerts.fingerprint import alert_fingerprint
from oncallnova.bus.runtime import Delivery
from oncallnova.db.models.incidents import Incident
from oncallnova.incidents.rules import candidate_incident_id
from schemas.alert_v1 import CanonicalAlertV1
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentCommandV1
from tests.helpers import Mesh
from workers.lifecycle import BatchApplier


def command(service_id: str, alert_id: str, action: str, incident_id: str) -> Delivery[Any]:
    alert = CanonicalAlertV1(
        alert_id=alert_id,
        service_id=service_id,
        action=action,  # type: ignore[arg-type]
        fingerprint=alert_fingerprint(service_id, "db1"),
        dedup_key="db1",
        summary="db1 down",
        occurred_at=datetime.now(UTC),
        source_format="pagerduty",
    )
    data = IncidentCommandV1(
        action=action,  # type: ignore[arg-type]
        incident_id=incident_id,
        service_id=service_id,
        dedup_key="db1",
        alert=alert,
    )
    envelope = Envelope(id=f"cmd:{alert_id}", type="incident.command.v1", producer="test")
    return Delivery(msg=None, subject="incident.command.v1", envelope=envelope, data=data)  # type: ignore[arg-type]


async def test_resolve_then_retrigger_in_one_batch_commits(idle_mesh: Mesh) -> None:
    service = (await idle_mesh.create_service())["id"]
    first = candidate_incident_id("a1")
    async with idle_mesh.ctx.sessions.begin() as session:
        await BatchApplier(session, datetime.now(UTC)).apply(
            [command(service, "a1", "trigger", first)]
        )
    # The window still names the first incident: resolve it and fire again, one transaction.
    async with idle_mesh.ctx.sessions.begin() as session:
        events = await BatchApplier(session, datetime.now(UTC)).apply(
            [command(service, "r1", "resolve", first), command(service, "a2", "trigger", first)]
        )
    assert [e.fact.event for e in events] == ["resolved", "triggered"]
    async with idle_mesh.ctx.sessions() as session:
        rows = (await session.scalars(select(Incident).where(Incident.service_id == service))).all()
    assert sorted((i.id == first, i.status) for i in rows) == [
        (False, "triggered"),
        (True, "resolved"),
    ]
