"""Rotation maths across daylight-saving changes, table-driven."""

from __future__ import annotations

from datetime import datetime

import pytest

from oncallnova.oncall import Layer, Schedule, TurnUnit, render
from tests.unit.oncall.helpers import local, wall

# (zone, rotation start, turn unit, length, range start, range end, expected handoffs as
# local wall-clock times, expected turn lengths in hours)
DST_CASES = [
    # Paris springs forward on 2024-03-31 02:00 → 03:00: the daily 09:00 handoff stays at 09:00.
    (
        "Europe/Paris",
        "2024-03-29 09:00",
        TurnUnit.DAYS,
        1,
        "2024-03-29 09:00",
        "2024-04-02 09:00",
        ["2024-03-30 09:00", "2024-03-31 09:00", "2024-04-01 09:00"],
        [24, 23, 24, 24],
    ),
    # Paris falls back on 2024-10-27 03:00 → 02:00: that day's turn lasts 25 hours.
    (
        "Europe/Paris",
        "2024-10-25 09:00",
        TurnUnit.DAYS,
        1,
        "2024-10-25 09:00",
        "2024-10-29 09:00",
        ["2024-10-26 09:00", "2024-10-27 09:00", "2024-10-28 09:00"],
        [24, 25, 24, 24],
    ),
    # New York: weekly Monday 10:00 handoffs across 2024-03-10 (spring) keep 10:00.
    (
        "America/New_York",
        "2024-03-04 10:00",
        TurnUnit.WEEKS,
        1,
        "2024-03-04 10:00",
        "2024-03-25 10:00",
        ["2024-03-11 10:00", "2024-03-18 10:00"],
        [167, 168, 168],
    ),
    # New York falls back on 2024-11-03: a 12-hour 08:00/20:00 rotation keeps its wall clock,
    # so the night turn spanning the change lasts 13 hours.
    (
        "America/New_York",
        "2024-11-01 08:00",
        TurnUnit.HOURS,
        12,
        "2024-11-02 08:00",
        "2024-11-03 20:00",
        ["2024-11-02 20:00", "2024-11-03 08:00"],
        [12, 13, 12],
    ),
]


@pytest.mark.parametrize("zone,rotation_start,unit,length,start,end,handoffs,hours", DST_CASES)
def test_handoffs_keep_local_wall_clock_across_dst(
    zone: str,
    rotation_start: str,
    unit: TurnUnit,
    length: int,
    start: str,
    end: str,
    handoffs: list[str],
    hours: list[int],
) -> None:
    # Three users so consecutive turns never merge and every handoff is visible.
    layer = Layer("l", ("a", "b", "c"), datetime.fromisoformat(rotation_start), unit, length)
    shifts = render(Schedule("s", zone, (layer,)), local(zone, start), local(zone, end))
    assert [wall(zone, s.start) for s in shifts[1:]] == handoffs
    assert [(s.end - s.start).total_seconds() / 3600 for s in shifts] == hours


def test_handoff_in_a_dst_gap_moves_forward_by_the_gap() -> None:
    # 02:30 does not exist in Paris on 2024-03-31: RFC 5545 reads it with the pre-gap
    # offset, i.e. 03:30 CEST. The days either side still hand off at 02:30.
    layer = Layer("l", ("a", "b", "c"), datetime(2024, 3, 29, 2, 30), TurnUnit.DAYS)
    shifts = render(
        Schedule("s", "Europe/Paris", (layer,)),
        local("Europe/Paris", "2024-03-29 02:30"),
        local("Europe/Paris", "2024-04-02 02:30"),
    )
    assert [wall("Europe/Paris", s.start) for s in shifts] == [
        "2024-03-29 02:30",
        "2024-03-30 02:30",
        "2024-03-31 03:30",
        "2024-04-01 02:30",
    ]


def test_handoff_in_a_dst_fold_takes_the_first_occurrence() -> None:
    # 02:30 happens twice in Paris on 2024-10-27; the handoff is at the first (CEST, 00:30 UTC).
    layer = Layer("l", ("a", "b"), datetime(2024, 10, 26, 2, 30), TurnUnit.DAYS)
    shifts = render(
        Schedule("s", "Europe/Paris", (layer,)),
        local("Europe/Paris", "2024-10-26 12:00"),
        local("Europe/Paris", "2024-10-27 12:00"),
    )
    assert shifts[1].start.isoformat() == "2024-10-27T00:30:00+00:00"


def test_hourly_turn_swallowed_by_the_gap_is_skipped_not_shifted() -> None:
    # Hourly turns a, b, c from 00:00: the 02:00 turn (c's) does not exist on
    # the spring-forward day, and the rotation order after it is unchanged.
    layer = Layer("l", ("a", "b", "c"), datetime(2024, 3, 31, 0, 0), TurnUnit.HOURS)
    shifts = render(
        Schedule("s", "Europe/Paris", (layer,)),
        local("Europe/Paris", "2024-03-31 00:00"),
        local("Europe/Paris", "2024-03-31 05:00"),
    )
    assert [(wall("Europe/Paris", s.start), s.user_id) for s in shifts] == [
        ("2024-03-31 00:00", "a"),
        ("2024-03-31 01:00", "b"),
        # 02:00 (c) never happens
        ("2024-03-31 03:00", "a"),
        ("2024-03-31 04:00", "b"),
    ]


def test_layer_covers_nothing_before_its_rotation_start_or_after_its_end() -> None:
    layer = Layer("l", ("a",), datetime(2024, 5, 1, 9), TurnUnit.DAYS, end=datetime(2024, 5, 2, 9))
    shifts = render(
        Schedule("s", "UTC", (layer,)), local("UTC", "2024-05-01 00:00"), local("UTC", "2024-05-03")
    )
    assert [(wall("UTC", s.start), s.user_id, s.source.value) for s in shifts] == [
        ("2024-05-01 00:00", None, "gap"),
        ("2024-05-01 09:00", "a", "layer"),
        ("2024-05-02 09:00", None, "gap"),
    ]
