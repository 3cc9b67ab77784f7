"""Alert storms: a hot incident costs one timeline entry per batch while every alert is stored
and counted, redeliveries stay no-ops per alert, and on PostgreSQL the lifecycle's lookups stay
index lookups on tables that have grown without statistics."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova.alerts.fingerprint import alert_fingerprint
from oncallnova.bus.runtime import Delivery
from oncallnova.db.models.incidents import Alert, Incident, TimelineEntry
from oncallnova.incidents.rules import candidate_incident_id
from schemas.alert_v1 import CanonicalAlertV1
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentCommandV1
from schemas.subjects import ALERT_RECEIVED
from tests.helpers import Mesh, eventually, pd_event
from workers.lifecycle import BatchApplier

HOT_TABLES = ("incidents", "alerts", "incident_timeline")


async def test_one_key_storm_is_one_incident_every_alert_stored_few_timeline_rows(
    mesh: Mesh, service: dict
) -> None:
    n = 2000
    subject = ALERT_RECEIVED.subject("pagerduty", ns=mesh.ctx.bus.ns)
    body = json.dumps(pd_event(service["key"], dedup_key="storm")).encode()
    acks = [
        await mesh.ctx.bus.js.publish_async(
            subject, body, headers={"Nats-Msg-Id": f"storm-{service['id']}-{i}"}
        )
        for i in range(n)
    ]
    for ack in acks:
        await ack

    async def counted() -> list[dict[str, Any]] | None:
        rows = await mesh.incidents(service["id"])
        return rows if sum(r["alert_count"] for r in rows) >= n else None

    [incident] = await eventually(counted, timeout=120, interval=0.5)
    assert incident["alert_count"] == n
    async with mesh.ctx.sessions() as session:
        alerts = await session.scalar(
            select(func.count()).select_from(Alert).where(Alert.incident_id == incident["id"])
        )
        entries = (
            await session.scalars(
                select(TimelineEntry).where(TimelineEntry.incident_id == incident["id"])
            )
        ).all()
    assert alerts == n
    # One entry per lifecycle batch, not per alert (batches of up to 256 here).
    assert len(entries) <= n // 5, len(entries)
    # What a reader of the timeline sees: the trigger, then "N alerts attached" entries whose
    # counts add up to every alert.
    response = await mesh.api.get(f"/api/v1/incidents/{incident['id']}/timeline")
    assert response.status_code == 200, response.text
    timeline = response.json()["timeline"]
    assert timeline[0]["kind"] == "triggered"
    attached = [e for e in timeline if e["kind"] == "alert_attached"]
    assert 1 + sum(e["data"].get("alerts", 1) for e in attached) == n
    assert any(
        e["message"].startswith(f"{e['data']['alerts']} alerts attached: ")
        for e in attached
        if "alerts" in e["data"]
    )


def command(service_id: str, alert_id: str, incident_id: str) -> Delivery[Any]:
    alert = CanonicalAlertV1(
        alert_id=alert_id,
        service_id=service_id,
        action="trigger",
        fingerprint=alert_fingerprint(service_id, "hot"),
        dedup_key="hot",
        summary="hot key",
        occurred_at=datetime.now(UTC),
        source_format="pagerduty",
    )
    data = IncidentCommandV1(
        action="trigger", incident_id=incident_id, service_id=service_id, dedup_key="hot",
        alert=alert,
    )  # fmt: skip
    envelope = Envelope(id=f"cmd:{alert_id}", type="incident.command.v1", producer="test")
    return Delivery(msg=None, subject="incident.command.v1", envelope=envelope, data=data)  # type: ignore[arg-type]


def batch(service_id: str, first: int, last: int, incident_id: str) -> list[Delivery[Any]]:
    return [command(service_id, f"hot-{i}", incident_id) for i in range(first, last)]


async def apply(mesh: Mesh, deliveries: list[Delivery[Any]]) -> list[Any]:
    async with mesh.ctx.sessions.begin() as session:
        return await BatchApplier(session, datetime.now(UTC)).apply(deliveries)


async def counts(mesh: Mesh, incident_id: str) -> tuple[int, int, int]:
    async with mesh.ctx.sessions() as session:
        alert_count = await session.scalar(
            select(Incident.alert_count).where(Incident.id == incident_id)
        )
        alerts = await session.scalar(
            select(func.count()).select_from(Alert).where(Alert.incident_id == incident_id)
        )
        rows = await session.scalar(
            select(func.count())
            .select_from(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
        )
    return int(alert_count or 0), int(alerts or 0), int(rows or 0)


async def test_a_redelivered_storm_batch_changes_nothing_whole_or_in_part(
    idle_mesh: Mesh,
) -> None:
    service = (await idle_mesh.create_service())["id"]
    incident_id = candidate_incident_id("hot-0")
    first = await apply(idle_mesh, batch(service, 0, 100, incident_id))
    assert [(e.fact.event, e.fact.alerts) for e in first] == [
        ("triggered", 1),
        ("alert_attached", 99),
    ]
    assert await counts(idle_mesh, incident_id) == (100, 100, 2)
    # The same batch again (a crash before the ack): the events again, under the same ids
    # and with the same count, and no effect.
    again = await apply(idle_mesh, batch(service, 0, 100, incident_id))
    assert sorted((e.fact.event, e.fact.source_id, e.fact.alerts) for e in again) == sorted(
        (e.fact.event, e.fact.source_id, e.fact.alerts) for e in first
    )
    # Part of it, without the alert its fact is keyed by, mixed with new alerts: only the new
    # ones count, known per alert through the alerts table.
    mixed = await apply(idle_mesh, batch(service, 50, 150, incident_id))
    assert [(e.fact.event, e.fact.alerts, e.fact.source_id) for e in mixed] == [
        ("alert_attached", 50, "hot-100")
    ]
    assert await counts(idle_mesh, incident_id) == (150, 150, 3)


class Statements:
    """The SELECTs a piece of code sends, with their parameters, to EXPLAIN them after."""

    def __init__(self, mesh: Mesh) -> None:
        self.engine = mesh.ctx.engine.sync_engine
        self.seen: list[tuple[str, Any]] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self.record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self.record)

    def record(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not executemany and statement.lstrip().upper().startswith("SELECT"):
            self.seen.append((statement, parameters))

    async def plans(self, session: AsyncSession) -> str:
        connection = await session.connection()
        plans = []
        for statement, parameters in self.seen:
            rows = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
            plans.append("\n".join(row[0] for row in rows))
        return "\n\n".join(plans)


async def test_lifecycle_lookups_stay_index_scans_on_tables_grown_without_statistics(
    idle_mesh: Mesh,
) -> None:
    """A storm's tables: tens of thousands of rows written since the last ANALYZE (here:
    none since they were empty). The lifecycle's batch must not plan a scan of them whole."""
    service = (await idle_mesh.create_service())["id"]
    incident_id = candidate_incident_id("hot-0")
    await apply(idle_mesh, batch(service, 0, 1, incident_id))
    async with idle_mesh.ctx.sessions.begin() as session:
        for table in HOT_TABLES:  # no statistics arrive in the middle of the test
            await session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        await session.execute(
            text(
                "INSERT INTO incident_timeline (incident_id, at, kind, actor, message, source_id,"
                " data) SELECT :incident, now(), 'alert_attached', 'integration:x', 'old',"
                " 'old-' || g, '{}' FROM generate_series(1, 30000) g"
            ),
            {"incident": incident_id},
        )
    # The lifecycle's batch of 256 alerts, and the plans of every lookup it made, planned
    # again inside its transaction (so with whatever settings the lifecycle gave it).
    async with idle_mesh.ctx.sessions.begin() as session:
        with Statements(idle_mesh) as statements:
            events = await BatchApplier(session, datetime.now(UTC)).apply(
                batch(service, 1, 257, incident_id)
            )
        planned = await statements.plans(session)
    assert [(e.fact.event, e.fact.alerts) for e in events] == [("alert_attached", 256)]
    assert "incident_timeline" in planned and "Seq Scan" not in planned, planned
    # The cause, reproduced: the same lookups planned with default settings scan the whole
    # timeline (each of 256 ids taken to match 0.5 % of it, for want of statistics).
    async with idle_mesh.ctx.sessions.begin() as session:
        assert "Seq Scan on incident_timeline" in await statements.plans(session)
