"""The analytics API: incident trends, MTTA/MTTR percentiles, on-call load per person.

Read from PostgreSQL (or SQLite) at request time; the arithmetic lives in
`oncallnova/metrics/analytics.py` so both databases give the same answer.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query

from oncallnova.context import AppContext
from oncallnova.db.repositories import analytics as repo
from oncallnova.db.repositories.oncall import list_users, user_shifts
from oncallnova.metrics.analytics import (
    daily_trend,
    distribution,
    hours_within,
    is_out_of_hours,
    known_severities,
    window_start,
)
from oncallnova.metrics.facts import SEVERITIES

SeverityParam = Literal["critical", "error", "warning", "info"]
MAX_DAYS = 3650

# What paging adds: who was notified for which incident. Until then these figures are null.
PAGING_GAP = (
    "incidents_paged and out_of_hours_pages need the notification records of the paging "
    "worker; until it runs they are null and incidents_assigned stands in"
)


def _days(default: int = 30) -> Any:
    return Query(default, ge=1, le=MAX_DAYS, description=f"Days back from today (1–{MAX_DAYS}).")


def _breakdown(
    rows: list[tuple[str, str, str, datetime, datetime | None, datetime | None]], which: int
) -> dict[str, Any]:
    """Distribution of (column `which` − created) overall, by severity and by service."""
    overall: list[float] = []
    by_severity: dict[str, list[float]] = {s: [] for s in SEVERITIES}
    by_service: dict[str, list[float]] = defaultdict(list)
    names: dict[str, str] = {}
    for row in rows:
        severity, service_id, service_name, created = row[0], row[1], row[2], row[3]
        names[service_id] = service_name
        ended = row[which]
        if not isinstance(ended, datetime):
            continue
        seconds = max(0.0, (ended - created).total_seconds())
        overall.append(seconds)
        by_severity.setdefault(severity, []).append(seconds)
        by_service[service_id].append(seconds)
    return {
        "overall": distribution(overall),
        "by_severity": {s: distribution(v) for s, v in by_severity.items()},
        "by_service": [
            {"service_id": sid, "service_name": names[sid], **distribution(values)}
            for sid, values in sorted(by_service.items(), key=lambda item: names[item[0]])
        ],
    }


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

    @api.get("/trends")
    async def trends(
        days: int = _days(), severity: SeverityParam | None = Query(None)
    ) -> dict[str, Any]:
        """Incidents opened per UTC day, by severity, with totals."""
        now = ctx.clock()
        start = window_start(now, days)
        async with ctx.sessions() as session:
            counts = await repo.incidents_per_day(session, start, severity)
        severities = known_severities(severity)
        series = daily_trend(counts, start.date(), days, severities)
        by_severity = {s: sum(d["by_severity"][s] for d in series) for s in severities}  # type: ignore[index]
        return {
            "days": days,
            "severity": severity,
            "from": start.date().isoformat(),
            "to": now.date().isoformat(),
            "series": series,
            "totals": {"total": sum(by_severity.values()), "by_severity": by_severity},
        }

    @api.get("/mttr-distribution")
    async def mttr_distribution(days: int = _days()) -> dict[str, Any]:
        """P50/P90/P99 (seconds) of time to resolve and to acknowledge, over the incidents
        opened in the window, overall, by severity and by service, with counts."""
        now = ctx.clock()
        start = window_start(now, days)
        async with ctx.sessions() as session:
            rows = await repo.incident_times(session, start)
        return {
            "days": days,
            "from": start.date().isoformat(),
            "to": now.date().isoformat(),
            "incidents": len(rows),
            "time_to_resolve": _breakdown(rows, 5),
            "time_to_acknowledge": _breakdown(rows, 4),
        }

    @api.get("/oncall-load")
    async def oncall_load(days: int = _days()) -> dict[str, Any]:
        """Per person: hours on call in the window, incidents assigned (and how many out of
        their working hours, on their own clock); paging figures once paging records them."""
        now = ctx.clock()
        start = window_start(now, days)
        people: list[dict[str, Any]] = []
        async with ctx.sessions() as session:
            assigned = await repo.assigned_incidents(session, start)
            for user in await list_users(session, limit=10_000):
                shifts = await user_shifts(session, user.id, start, now)
                theirs = [created for assignee, created in assigned if assignee == user.id]
                people.append(
                    {
                        "user_id": user.id,
                        "name": user.name,
                        "time_zone": user.time_zone,
                        "hours_on_call": hours_within(
                            ((s.start, s.end) for _, s in shifts), start, now
                        ),
                        "incidents_assigned": len(theirs),
                        "out_of_hours_assigned": sum(
                            1 for c in theirs if is_out_of_hours(c, user.time_zone)
                        ),
                        "incidents_paged": None,
                        "out_of_hours_pages": None,
                    }
                )
        return {
            "days": days,
            "from": start.date().isoformat(),
            "to": now.date().isoformat(),
            "people": people,
            "gaps": {"paging": PAGING_GAP},
        }

    return api
