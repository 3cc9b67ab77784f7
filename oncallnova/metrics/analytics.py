"""Analytics as pure functions: percentiles, per-day trends, out-of-hours, time on call.

Percentiles are computed here, not in SQL, so PostgreSQL and SQLite give the same answer:
linear interpolation between the closest ranks, as PostgreSQL's `percentile_cont`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from oncallnova.metrics.facts import SEVERITIES

PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
# Working hours in a person's own time zone: Monday to Friday, 09:00 to 18:00.
WORK_START = time(9)
WORK_END = time(18)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated between closest ranks (`percentile_cont`)."""
    if not ordered:
        raise ValueError("no values")
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: Iterable[float]) -> dict[str, float | int | None]:
    """Count and P50/P90/P99 of `values` (seconds); percentiles are null with no value."""
    ordered = sorted(values)
    summary: dict[str, float | int | None] = {"count": len(ordered)}
    for name, q in PERCENTILES:
        summary[name] = round(percentile(ordered, q), 3) if ordered else None
    return summary


def window_start(now: datetime, days: int) -> datetime:
    """Midnight UTC `days - 1` days before today: `days=1` is today so far."""
    today = now.astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days - 1), time(), tzinfo=UTC)


def daily_trend(
    counts: Iterable[tuple[date, str, int]], start: date, days: int, severities: Sequence[str]
) -> list[dict[str, object]]:
    """One entry per day from `start` (empty days included): counts by severity and the total."""
    table = {(day, severity): n for day, severity, n in counts}
    out: list[dict[str, object]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        by_severity = {s: table.get((day, s), 0) for s in severities}
        out.append(
            {
                "date": day.isoformat(),
                "total": sum(by_severity.values()),
                "by_severity": by_severity,
            }
        )
    return out


def known_severities(severity: str | None) -> tuple[str, ...]:
    return (severity,) if severity else SEVERITIES


def is_out_of_hours(instant: datetime, time_zone: str) -> bool:
    """True at weekends and outside 09:00–18:00 on the person's own clock."""
    local = instant.astimezone(ZoneInfo(time_zone))
    return local.weekday() >= 5 or not (WORK_START <= local.time() < WORK_END)


def hours_within(
    spans: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
) -> float:
    """Hours of `spans` that fall inside `[start, end)` (spans of one person never overlap
    within a schedule; across schedules, overlapping time is counted once)."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in spans if b > start and a < end)
    total = 0.0
    current_start: datetime | None = None
    current_end: datetime | None = None
    for a, b in clipped:
        if current_end is None or a > current_end:
            if current_start is not None and current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = a, b
        else:
            current_end = max(current_end, b)
    if current_start is not None and current_end is not None:
        total += (current_end - current_start).total_seconds()
    return round(total / 3600, 3)
