"""Alerts in, incidents out: the mesh against real PostgreSQL, Redis and NATS."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from oncallnova.db.models.incidents import Alert
from tests.helpers import Mesh, eventually, pd_event


async def enqueue(mesh: Mesh, body: dict) -> dict:
    response = await mesh.api.post("/v2/enqueue", json=body)
    assert response.status_code == 202, response.text
    return response.json()


async def test_trigger_acknowledge_resolve_over_events_v2(mesh: Mesh, service: dict) -> None:
    accepted = await enqueue(mesh, pd_event(service["key"], dedup_key="disk-full"))
    assert accepted == {"status": "success", "message": "Event processed", "dedup_key": "disk-full"}
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["status"] == "triggered"
    assert incident["title"] == "CPU high"
    assert incident["severity"] == "critical" and incident["urgency"] == "high"

    await enqueue(mesh, pd_event(service["key"], "acknowledge", dedup_key="disk-full"))

    async def acknowledged() -> dict | None:
        [current] = await mesh.incidents(service["id"])
        return current if current["status"] == "acknowledged" else None

    current = await eventually(acknowledged)
    assert current["acknowledged_at"] is not None

    await enqueue(mesh, pd_event(service["key"], "resolve", dedup_key="disk-full"))

    async def resolved() -> dict | None:
        [current] = await mesh.incidents(service["id"])
        return current if current["status"] == "resolved" else None

    current = await eventually(resolved)
    assert current["resolved_at"] is not None
    timeline = (await mesh.api.get(f"/api/v1/incidents/{incident['id']}/timeline")).json()
    assert [e["kind"] for e in timeline["timeline"]] == ["triggered", "acknowledged", "resolved"]


async def test_trigger_without_dedup_key_gets_one(mesh: Mesh, service: dict) -> None:
    accepted = await enqueue(mesh, pd_event(service["key"]))
    assert len(accepted["dedup_key"]) == 32
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["dedup_key"] == accepted["dedup_key"]


async def test_hundred_identical_alerts_make_one_incident(mesh: Mesh, service: dict) -> None:
    body = pd_event(service["key"], dedup_key="db-latency")
    await asyncio.gather(*(enqueue(mesh, body) for _ in range(100)))

    async def all_counted() -> list | None:
        rows = await mesh.incidents(service["id"])
        return rows if rows and rows[0]["alert_count"] == 100 else None

    rows = await eventually(all_counted)
    assert len(rows) == 1
    # Every alert sent is stored and attached to that incident: none is left to open another.
    async with mesh.ctx.sessions() as session:
        attached = (
            await session.scalars(
                select(Alert.incident_id).where(Alert.service_id == service["id"])
            )
        ).all()
    assert attached == [rows[0]["id"]] * 100
    assert len(await mesh.incidents(service["id"])) == 1


async def test_after_resolve_next_trigger_opens_new_incident(mesh: Mesh, service: dict) -> None:
    await enqueue(mesh, pd_event(service["key"], dedup_key="k"))
    [first] = await eventually(lambda: mesh.incidents(service["id"]))
    await enqueue(mesh, pd_event(service["key"], "resolve", dedup_key="k"))
    await eventually(lambda: mesh.incidents(service["id"], status="resolved"))
    # Within the correlation window: the window still names the resolved incident.
    await enqueue(mesh, pd_event(service["key"], dedup_key="k"))
    [second] = await eventually(lambda: mesh.incidents(service["id"], status="triggered"))
    assert second["id"] != first["id"]
    assert second["number"] > first["number"]
    resolved = await mesh.incidents(service["id"], status="resolved")
    assert [r["id"] for r in resolved] == [first["id"]]  # never reopened


async def test_two_dedup_keys_make_two_incidents(mesh: Mesh, service: dict) -> None:
    await enqueue(mesh, pd_event(service["key"], dedup_key="a"))
    await enqueue(mesh, pd_event(service["key"], dedup_key="b"))
    rows = await eventually(lambda: _at_least(mesh.incidents(service["id"]), 2))
    assert sorted(r["dedup_key"] for r in rows) == ["a", "b"]


async def _at_least(rows_coro, n: int) -> list | None:  # type: ignore[no-untyped-def]
    rows = await rows_coro
    return rows if len(rows) >= n else None


async def test_acknowledge_and_resolve_over_rest(mesh: Mesh, service: dict) -> None:
    await enqueue(mesh, pd_event(service["key"], dedup_key="rest"))
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    response = await mesh.api.post(
        f"/api/v1/incidents/{incident['id']}/acknowledge",
    )
    assert response.status_code == 202
    await eventually(lambda: mesh.incidents(service["id"], status="acknowledged"))
    # While acknowledged, another alert is recorded but notifies nobody.
    await enqueue(mesh, pd_event(service["key"], dedup_key="rest"))

    async def two_alerts() -> dict | None:
        got = (await mesh.api.get(f"/api/v1/incidents/{incident['id']}")).json()["incident"]
        return got if got["alert_count"] == 2 else None

    got = await eventually(two_alerts)
    assert got["status"] == "acknowledged"
    response = await mesh.api.post(f"/api/v1/incidents/{incident['number']}/resolve")
    assert response.status_code == 202
    await eventually(lambda: mesh.incidents(service["id"], status="resolved"))
    timeline = (await mesh.api.get(f"/api/v1/incidents/{incident['id']}/timeline")).json()
    entries = timeline["timeline"]
    assert [e["kind"] for e in entries] == [
        "triggered",
        "acknowledged",
        "alert_attached",
        "resolved",
    ]
    # The actor is whoever the token says, never a header the client chose.
    assert entries[1]["actor"] == f"user:{mesh.admin_id}"
    assert entries[2]["data"]["notify"] is False


async def test_acknowledge_with_nothing_open_is_accepted_and_dropped(
    mesh: Mesh, service: dict
) -> None:
    accepted = await enqueue(mesh, pd_event(service["key"], "acknowledge", dedup_key="nothing"))
    assert accepted["dedup_key"] == "nothing"
    await enqueue(mesh, pd_event(service["key"], dedup_key="after"))
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert incident["dedup_key"] == "after"
