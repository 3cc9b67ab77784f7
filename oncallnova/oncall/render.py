"""Layer stacking and overrides: the final, resolved timeline of a schedule.

Precedence at any instant: an override (the one listed last, if several overlap), else the
highest layer that has someone, else a gap. The result is contiguous and non-overlapping
from `start` to `end`, and a gap is always an explicit shift, never a missing one.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from oncallnova.errors import InvalidInput
from oncallnova.oncall.localtime import require_aware, zone
from oncallnova.oncall.model import Schedule, Shift, ShiftSource
from oncallnova.oncall.restrictions import restriction_windows
from oncallnova.oncall.rotation import turns_between

# How far who_is_on_call looks either side of its instant to find where a shift begins and ends.
HORIZON = timedelta(days=92)


@dataclass(frozen=True)
class _Cover:
    """A stretch of time one source (a layer turn or an override) has someone on call."""

    start: datetime
    end: datetime
    shift: Shift


class _Track:
    """Non-overlapping covers of one source, sorted, searchable by instant."""

    def __init__(self, covers: Iterable[_Cover]) -> None:
        self.covers = sorted(covers, key=lambda cover: cover.start)
        self.starts = [cover.start for cover in self.covers]

    def at(self, instant: datetime) -> Shift | None:
        position = bisect.bisect_right(self.starts, instant) - 1
        if position >= 0 and instant < self.covers[position].end:
            return self.covers[position].shift
        return None


def _layer_track(schedule: Schedule, index: int, start: datetime, end: datetime) -> _Track:
    layer = schedule.layers[index]
    tz = zone(schedule.time_zone)
    windows = restriction_windows(layer.restrictions, tz, start, end)
    covers: list[_Cover] = []
    for turn in turns_between(layer, tz, start, end):
        shift = Shift(turn.start, turn.end, turn.user_id, ShiftSource.LAYER, layer.id, index)
        for window_start, window_end in windows:
            lo, hi = max(turn.start, window_start), min(turn.end, window_end)
            if lo < hi:
                covers.append(_Cover(lo, hi, shift))
    return _Track(covers)


def _override_tracks(schedule: Schedule, start: datetime, end: datetime) -> list[_Track]:
    # One track per override keeps overlapping overrides apart; the last listed wins.
    tracks = []
    for override in schedule.overrides:
        lo, hi = max(override.start, start), min(override.end, end)
        if lo < hi:
            shift = Shift(lo, hi, override.user_id, ShiftSource.OVERRIDE, override_id=override.id)
            tracks.append(_Track([_Cover(lo, hi, shift)]))
    return tracks


def merge_adjacent(shifts: Sequence[Shift]) -> list[Shift]:
    """Join neighbouring shifts that give the same answer (same person, same reason)."""
    merged: list[Shift] = []
    for shift in shifts:
        previous = merged[-1] if merged else None
        if previous is not None and previous.end == shift.start and previous.same_answer(shift):
            merged[-1] = _with_bounds(previous, previous.start, shift.end)
        else:
            merged.append(shift)
    return merged


def _with_bounds(shift: Shift, start: datetime, end: datetime) -> Shift:
    return dataclasses.replace(shift, start=start, end=end)


def render(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The resolved timeline of `schedule` over `[start, end)`: contiguous, gaps explicit."""
    start, end = require_aware(start, "start"), require_aware(end, "end")
    if start >= end:
        raise InvalidInput("start must be before end", field="end")
    # Overrides first, then layers top-down: the first track with someone wins.
    tracks = list(reversed(_override_tracks(schedule, start, end)))
    tracks += [_layer_track(schedule, i, start, end) for i in reversed(range(len(schedule.layers)))]
    # The answer can only change where some cover starts or ends.
    edges = {start, end}
    for track in tracks:
        for cover in track.covers:
            edges.update((cover.start, cover.end))
    points = sorted(edges)
    pieces: list[Shift] = []
    for lo, hi in zip(points, points[1:], strict=False):
        winner = next((shift for track in tracks if (shift := track.at(lo)) is not None), None)
        if winner is None:
            pieces.append(Shift(lo, hi, None, ShiftSource.GAP))
        else:
            pieces.append(_with_bounds(winner, lo, hi))
    return merge_adjacent(pieces)


def who_is_on_call(schedule: Schedule, at: datetime, horizon: timedelta = HORIZON) -> Shift:
    """The shift covering `at`: a user and the layer or override that put them there, or a gap.

    The shift's bounds are exact unless it reaches `horizon` either side of `at`, where it is cut.
    """
    at = require_aware(at, "at")
    span = timedelta(days=1)
    while True:
        shifts = render(schedule, at - span, at + span)
        shift = next(shift for shift in shifts if shift.covers(at))
        if span >= horizon or (at - span < shift.start and shift.end < at + span):
            return shift
        # The shift runs to the edge of what was rendered: look further to find its true ends.
        span = min(span * 4, horizon)
