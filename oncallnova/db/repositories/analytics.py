"""SQL of the analytics API: incidents per day, and the times behind MTTA/MTTR."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova.db.models.incidents import Incident, Service
from oncallnova.db.repositories.incidents import dialect_name


async def incidents_per_day(
    session: AsyncSession, since: datetime, severity: str | None
) -> list[tuple[date, str, int]]:
    """(UTC day, severity, incidents opened) from `since` on."""
    if dialect_name(session) == "postgresql":
        day: Any = func.date_trunc("day", func.timezone("UTC", Incident.created_at))
    else:
        # SQLite stores UTC text (`2026-11-29 08:44:28.000000`): its date part is the UTC day.
        day = func.date(Incident.created_at)
    query = (
        select(day.label("day"), Incident.severity, func.count())
        .where(Incident.created_at >= since)
        .group_by(day, Incident.severity)
    )
    if severity:
        query = query.where(Incident.severity == severity)
    rows = (await session.execute(query)).all()
    return [(_as_date(d), s, int(n)) for d, s, n in rows]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


async def incident_times(
    session: AsyncSession, since: datetime
) -> list[tuple[str, str, str, datetime, datetime | None, datetime | None]]:
    """(severity, service id, service name, created, acknowledged, resolved) of the incidents
    opened from `since` on."""
    query = (
        select(
            Incident.severity,
            Incident.service_id,
            Service.name,
            Incident.created_at,
            Incident.acknowledged_at,
            Incident.resolved_at,
        )
        .join(Service, Service.id == Incident.service_id)
        .where(Incident.created_at >= since)
    )
    return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]


async def assigned_incidents(session: AsyncSession, since: datetime) -> list[tuple[str, datetime]]:
    """(assignee id, created) of the incidents opened from `since` on that have an assignee."""
    query = select(Incident.assignee_id, Incident.created_at).where(
        Incident.created_at >= since, Incident.assignee_id.is_not(None)
    )
    return [(str(a), c) for a, c in (await session.execute(query)).all()]
