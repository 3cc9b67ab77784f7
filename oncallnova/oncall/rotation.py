"""Rotation maths: where a layer's handoffs fall and whose turn it is.

Turns are counted on the local wall clock of the schedule's zone for every unit, hours
included: a daily 09:00 handoff stays at 09:00 across DST, and the turn that spans the change
is an hour shorter or longer. Handoffs landing in a DST gap or fold follow `localtime`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncallnova.oncall.localtime import to_instant, to_local
from oncallnova.oncall.model import Layer, Turn, TurnUnit

_UNIT = {
    TurnUnit.HOURS: timedelta(hours=1),
    TurnUnit.DAYS: timedelta(days=1),
    TurnUnit.WEEKS: timedelta(weeks=1),
}


def turn_step(layer: Layer) -> timedelta:
    """The wall-clock length of one turn."""
    return _UNIT[TurnUnit(layer.turn_unit)] * layer.turn_length


def handoff(layer: Layer, tz: ZoneInfo, index: int) -> datetime:
    """The instant turn `index` begins (turn 0 begins at the rotation start)."""
    return to_instant(layer.rotation_start + turn_step(layer) * index, tz)


def turn_index_at(layer: Layer, tz: ZoneInfo, at: datetime) -> int:
    """The index of the turn containing `at` (negative before the rotation start)."""
    step = turn_step(layer)
    # Estimate on the wall clock, then correct against real instants: DST moves the
    # estimate by at most one turn either way.
    index = (to_local(at, tz) - layer.rotation_start) // step
    while handoff(layer, tz, index) > at:
        index -= 1
    while handoff(layer, tz, index + 1) <= at:
        index += 1
    return index


def user_for_turn(layer: Layer, index: int) -> str:
    """Whose turn `index` is: users take turns in order, starting again after the last."""
    return layer.user_ids[index % len(layer.user_ids)]


def turns_between(layer: Layer, tz: ZoneInfo, start: datetime, end: datetime) -> Iterator[Turn]:
    """The layer's turns clipped to `[start, end)` and to the layer's own start and end."""
    first = handoff(layer, tz, 0)
    start = max(start, first)
    if layer.end is not None:
        end = min(end, to_instant(layer.end, tz))
    if start >= end:
        return
    index = turn_index_at(layer, tz, start)
    begins = handoff(layer, tz, index)
    while begins < end:
        ends = handoff(layer, tz, index + 1)
        clipped_start, clipped_end = max(begins, start), min(ends, end)
        # A turn swallowed whole by a DST gap (hourly turns) has no length: nobody serves it.
        if clipped_start < clipped_end:
            yield Turn(index, user_for_turn(layer, index), clipped_start, clipped_end)
        index, begins = index + 1, ends
