"""Layer stacking, restrictions, overrides and gaps, against answers worked out by hand."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from oncallnova.errors import InvalidInput
from oncallnova.oncall import (
    Layer,
    Override,
    Restriction,
    Schedule,
    ShiftSource,
    TurnUnit,
    render,
    who_is_on_call,
)
from tests.unit.oncall import rota
from tests.unit.oncall.helpers import local, wall


def _answer(shift) -> tuple[str, str | None, str, object]:  # type: ignore[no-untyped-def]
    reason = shift.override_id if shift.source == ShiftSource.OVERRIDE else shift.layer_index
    return (wall(rota.ZONE, shift.start), shift.user_id, shift.source.value, reason)


def test_three_layer_rota_matches_the_hand_computed_answer() -> None:
    start, end = (local(rota.ZONE, t) for t in rota.RANGE)
    shifts = render(rota.SCHEDULE, start, end)
    assert [_answer(s) for s in shifts] == rota.EXPECTED
    assert shifts[-1].end == end


@pytest.mark.parametrize(
    "at,user,source",
    [
        ("2024-03-27 12:30", "frank", ShiftSource.OVERRIDE),
        ("2024-03-27 16:59", "carol", ShiftSource.LAYER),
        ("2024-03-31 02:30", "bob", ShiftSource.LAYER),  # nonexistent: read as 03:30 CEST
        ("2024-03-31 11:00", "erin", ShiftSource.LAYER),
        ("2024-04-01 08:59", "bob", ShiftSource.LAYER),  # bob's week ends at 09:00
        ("2024-04-01 09:00", "dave", ShiftSource.LAYER),  # layer 2's turn 7: dave's
    ],
)
def test_who_is_on_call_at_moments_of_the_rota(at: str, user: str, source: ShiftSource) -> None:
    shift = who_is_on_call(rota.SCHEDULE, local(rota.ZONE, at))
    assert (shift.user_id, shift.source) == (user, source)


def test_who_is_on_call_reports_the_whole_shift_not_a_sliver() -> None:
    shift = who_is_on_call(rota.SCHEDULE, local(rota.ZONE, "2024-03-30 20:00"))
    assert (wall(rota.ZONE, shift.start), wall(rota.ZONE, shift.end)) == (
        "2024-03-30 14:00",
        "2024-03-31 10:00",
    )
    assert shift.end - shift.start == timedelta(hours=19)  # one hour lost to DST


def test_a_gap_is_an_explicit_shift() -> None:
    layer = Layer(
        "day",
        ("a",),
        datetime(2024, 1, 1, 0),
        TurnUnit.DAYS,
        restrictions=(Restriction(frozenset(range(7)), time(9), time(17)),),
    )
    schedule = Schedule("s", "UTC", (layer,))
    shifts = render(schedule, local("UTC", "2024-01-01 00:00"), local("UTC", "2024-01-02 00:00"))
    assert [(wall("UTC", s.start), s.source.value) for s in shifts] == [
        ("2024-01-01 00:00", "gap"),
        ("2024-01-01 09:00", "layer"),
        ("2024-01-01 17:00", "gap"),
    ]
    at_night = who_is_on_call(schedule, local("UTC", "2024-01-01 20:00"))
    assert at_night.source == ShiftSource.GAP and at_night.user_id is None


def test_overnight_restriction_runs_past_midnight() -> None:
    # Friday 22:00 → Saturday 06:00 only.
    night = Restriction(frozenset({4}), time(22), time(6))
    layer = Layer("n", ("owl",), datetime(2024, 1, 1), TurnUnit.WEEKS, restrictions=(night,))
    shifts = render(
        Schedule("s", "UTC", (layer,)), local("UTC", "2024-01-05 00:00"), local("UTC", "2024-01-07")
    )
    on_call = [(wall("UTC", s.start), wall("UTC", s.end)) for s in shifts if s.user_id]
    assert on_call == [("2024-01-05 22:00", "2024-01-06 06:00")]


def test_a_restriction_of_equal_start_and_end_lasts_a_whole_day() -> None:
    sunday = Restriction(frozenset({6}), time(0), time(0))
    layer = Layer("w", ("x",), datetime(2024, 1, 1), TurnUnit.WEEKS, restrictions=(sunday,))
    shifts = render(
        Schedule("s", "UTC", (layer,)), local("UTC", "2024-01-06"), local("UTC", "2024-01-09")
    )
    on_call = [(wall("UTC", s.start), wall("UTC", s.end)) for s in shifts if s.user_id]
    assert on_call == [("2024-01-07 00:00", "2024-01-08 00:00")]


def test_where_stored_overrides_overlap_the_later_listed_wins() -> None:
    first = Override("o1", "x", local("UTC", "2024-01-01 00:00"), local("UTC", "2024-01-01 12:00"))
    second = Override("o2", "y", local("UTC", "2024-01-01 06:00"), local("UTC", "2024-01-01 18:00"))
    schedule = Schedule("s", "UTC", (), (first, second))
    shifts = render(schedule, local("UTC", "2024-01-01 00:00"), local("UTC", "2024-01-02 00:00"))
    assert [(wall("UTC", s.start), s.user_id) for s in shifts] == [
        ("2024-01-01 00:00", "x"),
        ("2024-01-01 06:00", "y"),
        ("2024-01-01 18:00", None),
    ]


def test_consecutive_turns_of_the_same_person_merge() -> None:
    layer = Layer("solo", ("only",), datetime(2024, 1, 1), TurnUnit.DAYS)
    shifts = render(
        Schedule("s", "UTC", (layer,)), local("UTC", "2024-01-02"), local("UTC", "2024-01-09")
    )
    assert len(shifts) == 1 and shifts[0].user_id == "only"


@pytest.mark.parametrize(
    "start,end,field",
    [
        (datetime(2024, 1, 2), datetime(2024, 1, 3), "start"),
        (local("UTC", "2024-01-02"), local("UTC", "2024-01-02"), "end"),
    ],
)
def test_render_rejects_a_bad_range(start: datetime, end: datetime, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        render(Schedule("s", "UTC"), start, end)
    assert caught.value.field == field
