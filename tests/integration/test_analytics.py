"""The analytics API on a fixed data set: percentiles and trends computed by hand, and the very
same answers from PostgreSQL and from SQLite."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine

from app.http import create_app
from oncallnova.context import AppContext
from oncallnova.db import migrate
from oncallnova.db.engine import create_engine, create_sessions
from oncallnova.db.models.incidents import Incident
from oncallnova.db.repositories import incidents as repo
from oncallnova.db.repositories import oncall as oncall_repo
from oncallnova.oncall import model as domain
from oncallnova.security.bootstrap import ensure_bootstrap_admin
from oncallnova.settings import Settings
from tests.helpers import (
    PG_URL,
    REDIS_URL,
    TEST_ADMIN_PASSWORD,
    TEST_JWT_SECRET,
    login,
    new_namespace,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# (severity, service, created days ago, seconds to acknowledge, seconds to resolve)
CRITICAL_RESOLVE = [60, 120, 180, 240, 300, 600, 900, 1200, 3600, 7200]
CRITICAL_ACK = [10, 20, 30, 40]
WARNING_RESOLVE = [30, 90, 150]


def data_set() -> list[tuple[str, str, float, float | None, float | None]]:
    rows: list[tuple[str, str, float, float | None, float | None]] = []
    for i, resolve in enumerate(CRITICAL_RESOLVE):
        ack = CRITICAL_ACK[i] if i < len(CRITICAL_ACK) else None
        rows.append(("critical", "api", 1 + i % 3, ack, resolve))  # days 1, 2, 3 ago
    for resolve in WARNING_RESOLVE:
        rows.append(("warning", "db", 2, None, resolve))
    rows.append(("info", "db", 0.1, None, None))  # still open: counted, no durations
    rows.append(("critical", "api", 40, 5, 50))  # outside a 30-day window
    return rows


async def seed(ctx: AppContext) -> None:
    async with ctx.sessions.begin() as session:
        services = {name: (await repo.create_service(session, name)).id for name in ("api", "db")}
        for number, (severity, service, days_ago, ack, resolve) in enumerate(data_set(), 1):
            created = NOW - timedelta(days=days_ago)
            session.add(
                Incident(
                    id=secrets.token_hex(8),
                    number=number,
                    title=f"incident {number}",
                    status="resolved" if resolve is not None else "triggered",
                    severity=severity,
                    urgency="high",
                    service_id=services[service],
                    dedup_key=f"k{number}",
                    fingerprint=f"fp:1:{number}",
                    alert_count=1,
                    created_at=created,
                    updated_at=created,
                    acknowledged_at=created + timedelta(seconds=ack) if ack else None,
                    resolved_at=created + timedelta(seconds=resolve) if resolve else None,
                )
            )


# Logins and the token deny-list (Redis) as the platform has them; this app has no broker.
AUTH = {
    "jwt_secret": TEST_JWT_SECRET,
    "oncallnova_admin_password": TEST_ADMIN_PASSWORD,
    "redis_url": REDIS_URL,
}


async def drop_namespace_schema(ns: str) -> None:
    engine = create_async_engine(PG_URL)
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE'))
    await engine.dispose()


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    engine = create_engine(settings)
    await migrate.upgrade(engine, settings.database_schema)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=create_sessions(engine),
        bus=None,  # type: ignore[arg-type]  # the analytics API reads the database only
        clock=lambda: NOW,
    )
    await seed(ctx)
    await ensure_bootstrap_admin(ctx.sessions, settings)
    app = create_app(ctx, ["exporter"])
    app.state.seeded_ctx = ctx
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://oncallnova"
    ) as client:
        # The analytics API is for people: read it as the bootstrap admin.
        client.headers["Authorization"] = (
            f"Bearer {await login(client, 'admin', TEST_ADMIN_PASSWORD)}"
        )
        yield client
    await engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "sqlite":
        async for client in client_for(Settings(data_dir=tmp_path, **AUTH)):
            yield client
        return
    ns = new_namespace()
    try:
        async for client in client_for(Settings(database_url=PG_URL, database_schema=ns, **AUTH)):
            yield client
    finally:
        await drop_namespace_schema(ns)


def summary(count: int, p50: float | None, p90: float | None, p99: float | None) -> dict:
    return {"count": count, "p50": p50, "p90": p90, "p99": p99}


async def test_percentiles_match_a_hand_computation(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/analytics/mttr-distribution", params={"days": 30})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["incidents"] == 14  # the 40-day-old one is outside the window
    resolve = body["time_to_resolve"]
    # Sorted: 30 60 90 120 150 180 240 300 600 900 1200 3600 7200 (n = 13)
    # P50 at rank 6 = 240; P90 at 10.8 = 1200 + .8 × 2400; P99 at 11.88 = 3600 + .88 × 3600.
    assert resolve["overall"] == summary(13, 240.0, 3120.0, 6768.0)
    # critical (n = 10): P50 at 4.5 = 300 + .5 × 300; P90 at 8.1; P99 at 8.91.
    assert resolve["by_severity"]["critical"] == summary(10, 450.0, 3960.0, 6876.0)
    # warning 30 90 150: P50 = 90; P90 at 1.8 = 90 + .8 × 60; P99 at 1.98 = 90 + .98 × 60.
    assert resolve["by_severity"]["warning"] == summary(3, 90.0, 138.0, 148.8)
    assert resolve["by_severity"]["info"] == summary(0, None, None, None)
    by_service = {s["service_name"]: s for s in resolve["by_service"]}
    assert by_service["api"]["count"] == 10 and by_service["api"]["p50"] == 450.0
    assert by_service["db"]["count"] == 3 and by_service["db"]["p90"] == 138.0
    # Acknowledged: 10 20 30 40 → P50 at 1.5 = 25; P90 at 2.7 = 37; P99 at 2.97 = 39.7.
    ack = body["time_to_acknowledge"]
    assert ack["overall"] == summary(4, 25.0, 37.0, 39.7)
    assert ack["by_severity"]["critical"] == summary(4, 25.0, 37.0, 39.7)


async def test_trends_count_incidents_per_day(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/analytics/trends", params={"days": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["date"] for d in body["series"]] == [
        "2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20",
    ]  # fmt: skip
    # critical i = 0..9 on days 1, 2, 3 ago by i % 3: four 1 day ago, three 2 and 3 days ago.
    totals = {d["date"]: (d["total"], d["by_severity"]) for d in body["series"]}
    assert totals["2026-11-19"] == (4, {"critical": 4, "error": 0, "warning": 0, "info": 0})
    assert totals["2026-11-18"] == (6, {"critical": 3, "error": 0, "warning": 3, "info": 0})
    assert totals["2026-11-17"] == (3, {"critical": 3, "error": 0, "warning": 0, "info": 0})
    assert totals["2026-11-20"] == (1, {"critical": 0, "error": 0, "warning": 0, "info": 1})
    assert body["totals"] == {
        "total": 14, "by_severity": {"critical": 10, "error": 0, "warning": 3, "info": 1}
    }  # fmt: skip
    only = await api.get("/api/v1/analytics/trends", params={"days": 5, "severity": "warning"})
    assert only.json()["totals"] == {"total": 3, "by_severity": {"warning": 3}}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("trends", {"days": 0}, "days"),
        ("trends", {"days": 100000}, "days"),
        ("trends", {"severity": "catastrophic"}, "severity"),
        ("mttr-distribution", {"days": 0}, "days"),
        ("mttr-distribution", {"days": "many"}, "days"),
        ("oncall-load", {"days": 100000}, "days"),
    ],
)
async def test_bad_input_names_the_parameter(
    api: httpx.AsyncClient, path: str, params: dict[str, Any], field: str
) -> None:
    response = await api.get(f"/api/v1/analytics/{path}", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


async def test_oncall_load_counts_hours_and_out_of_hours_in_their_own_zone(
    api: httpx.AsyncClient,
) -> None:
    ctx: AppContext = api._transport.app.state.seeded_ctx  # type: ignore[attr-defined]
    async with ctx.sessions.begin() as session:
        user = await oncall_repo.create_user(
            session, name="Kenji", email=f"kenji-{secrets.token_hex(3)}@example.com",
            time_zone="Asia/Tokyo", contact_methods=[],
        )  # fmt: skip
        layer = domain.Layer(
            id="", user_ids=(user.id,), rotation_start=datetime(2020, 1, 6, 9), turn_unit="days"
        )
        await oncall_repo.create_schedule(
            session, name="tokyo", time_zone="Asia/Tokyo", description=None, team_id=None,
            layers=[layer],
        )  # fmt: skip
        # Assigned: 2026-11-19 02:00 UTC is 11:00 in Tokyo (a Thursday: working hours);
        # 2026-11-19 12:00 UTC is 21:00 there (out of hours).
        incidents = (await session.execute(text("SELECT id FROM incidents ORDER BY number"))).all()
        await session.execute(
            update(Incident)
            .where(Incident.id == incidents[0][0])
            .values(assignee_id=user.id, created_at=datetime(2026, 11, 19, 2, tzinfo=UTC))
        )
        await session.execute(
            update(Incident)
            .where(Incident.id == incidents[1][0])
            .values(assignee_id=user.id, created_at=datetime(2026, 11, 19, 12, tzinfo=UTC))
        )
    response = await api.get("/api/v1/analytics/oncall-load", params={"days": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    [kenji] = [p for p in body["people"] if p["user_id"] == user.id]
    # Alone on the rota: on call from the window's start (2026-11-19 00:00 UTC) until now.
    assert kenji["hours_on_call"] == 36.0
    assert kenji["incidents_assigned"] == 2
    assert kenji["out_of_hours_assigned"] == 1
    assert kenji["incidents_paged"] is None and "paging" in body["gaps"]
