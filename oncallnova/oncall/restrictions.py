"""Restriction windows: the local-time windows in which a layer is in force."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncallnova.oncall.localtime import to_instant, to_local
from oncallnova.oncall.model import Restriction

Window = tuple[datetime, datetime]


def merge_windows(windows: Iterable[Window]) -> list[Window]:
    """Sorted, non-overlapping union of `windows`; touching windows join."""
    merged: list[Window] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def restriction_windows(
    restrictions: tuple[Restriction, ...], tz: ZoneInfo, start: datetime, end: datetime
) -> list[Window]:
    """Instants within `[start, end)` the restrictions allow; no restriction allows all."""
    if not restrictions:
        return [(start, end)]
    windows: list[Window] = []
    # A window starts on its weekday and lasts at most 24 h, so starting a day early catches
    # one that began before `start` and is still open.
    day = to_local(start, tz).date() - timedelta(days=1)
    last_day = to_local(end, tz).date()
    while day <= last_day:
        for restriction in restrictions:
            if day.weekday() not in restriction.weekdays:
                continue
            opens = datetime.combine(day, restriction.start)
            closes_day = day if restriction.end > restriction.start else day + timedelta(days=1)
            closes = datetime.combine(closes_day, restriction.end)
            window = (max(to_instant(opens, tz), start), min(to_instant(closes, tz), end))
            if window[0] < window[1]:
                windows.append(window)
        day += timedelta(days=1)
    return merge_windows(windows)
