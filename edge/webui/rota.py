"""A schedule drawn as rows of bars: each layer alone, the overrides, and the final rota."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncallnova import oncall as domain

# Enough colours to tell a typical rotation apart; users keep theirs on every row.
PALETTE_SIZE = 8


@dataclass(frozen=True)
class Segment:
    """One shift as a bar: position and width in percent of the row."""

    x: float
    width: float
    user_id: str | None
    name: str
    colour: str
    start: datetime
    end: datetime
    source: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


def colours(user_ids: Sequence[str]) -> dict[str, str]:
    """A palette class per user, in order of first appearance."""
    out: dict[str, str] = {}
    for user_id in user_ids:
        if user_id not in out:
            out[user_id] = f"c{len(out) % PALETTE_SIZE}"
    return out


def segments(
    shifts: Sequence[domain.Shift],
    start: datetime,
    end: datetime,
    names: dict[str, str],
    palette: dict[str, str],
) -> list[Segment]:
    """Bars for the shifts inside `[start, end)`; gaps are drawn too, as gaps."""
    span = (end - start).total_seconds()
    out = []
    for shift in shifts:
        left, right = max(shift.start, start), min(shift.end, end)
        if right <= left:
            continue
        user = shift.user_id
        out.append(
            Segment(
                x=100 * (left - start).total_seconds() / span,
                width=100 * (right - left).total_seconds() / span,
                user_id=user,
                name=names.get(user, user) if user else "nobody",
                colour=palette.get(user, "c0") if user else "gap",
                start=shift.start,
                end=shift.end,
                source=shift.source.value,
            )
        )
    return out


def day_ticks(start: datetime, end: datetime, time_zone: str) -> list[Tick]:
    """A tick at each local midnight in the range, labelled `Mon 3`."""
    zone = ZoneInfo(time_zone)
    span = (end - start).total_seconds()
    local = start.astimezone(zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    ticks: list[Tick] = []
    while True:
        moment = day.astimezone(start.tzinfo)
        if moment >= end:
            return ticks
        if moment >= start:
            ticks.append(
                Tick(100 * (moment - start).total_seconds() / span, day.strftime("%a %-d"))
            )
        # Step by calendar day on the local clock (a DST day is 23 or 25 hours long).
        day = (day + timedelta(days=1, hours=3)).replace(hour=0)


def layer_only(schedule: domain.Schedule, layer: domain.Layer) -> domain.Schedule:
    """The schedule with one layer and no overrides: what that layer alone would give."""
    return domain.Schedule(
        id=schedule.id,
        name=schedule.name,
        time_zone=schedule.time_zone,
        layers=(layer,),
        overrides=(),
    )
