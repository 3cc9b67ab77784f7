"""Properties of schedule resolution over random rotas in zones with DST (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from oncallnova.oncall import (
    Layer,
    Override,
    Restriction,
    Schedule,
    ShiftSource,
    TurnUnit,
    merge_adjacent,
    render,
    who_is_on_call,
)

ZONES = ["Europe/Paris", "America/New_York", "UTC"]
USERS = ["ann", "ben", "cat", "dan"]
# Around the 2024 DST changes of both zones, so most examples cross one.
EPOCH = datetime(2024, 3, 1)
SPAN_DAYS = 250

local_times = st.builds(
    lambda days, minutes: EPOCH + timedelta(days=days, minutes=minutes * 15),
    st.integers(0, SPAN_DAYS),
    st.integers(0, 95),
)
instants = local_times.map(lambda t: t.replace(tzinfo=UTC))
restrictions = st.builds(
    Restriction,
    st.frozensets(st.integers(0, 6), min_size=1),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
)


@st.composite
def layers(draw: st.DrawFn, index: int) -> Layer:
    unit = draw(st.sampled_from(list(TurnUnit)))
    return Layer(
        id=f"layer{index}",
        user_ids=tuple(draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=3))),
        rotation_start=draw(local_times),
        turn_unit=unit,
        turn_length=draw(st.integers(1, 3 if unit != TurnUnit.HOURS else 12)),
        restrictions=tuple(draw(st.lists(restrictions, max_size=2))),
    )


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    count = draw(st.integers(0, 3))
    overrides = []
    for n in range(draw(st.integers(0, 3))):
        start = draw(instants)
        length = timedelta(hours=draw(st.integers(1, 72)))
        overrides.append(Override(f"o{n}", draw(st.sampled_from(USERS)), start, start + length))
    return Schedule(
        id="s",
        time_zone=draw(st.sampled_from(ZONES)),
        layers=tuple(draw(layers(i)) for i in range(count)),
        overrides=tuple(overrides),
    )


@st.composite
def ranges(draw: st.DrawFn) -> tuple[datetime, datetime]:
    start = draw(instants)
    return start, start + timedelta(minutes=15 * draw(st.integers(1, 4 * 24 * 20)))


@settings(max_examples=80, deadline=None)
@given(schedules(), ranges())
def test_every_instant_has_exactly_one_answer(
    schedule: Schedule, window: tuple[datetime, datetime]
) -> None:
    start, end = window
    shifts = render(schedule, start, end)
    assert shifts[0].start == start and shifts[-1].end == end
    for before, after in zip(shifts, shifts[1:], strict=False):
        assert before.end == after.start  # no hole, no overlap
        assert not before.same_answer(after)  # neighbours were merged
    for shift in shifts:
        assert shift.start < shift.end
        assert (shift.user_id is None) == (shift.source == ShiftSource.GAP)


@settings(max_examples=80, deadline=None)
@given(schedules(), ranges())
def test_an_override_always_wins(schedule: Schedule, window: tuple[datetime, datetime]) -> None:
    start, end = window
    shifts = render(schedule, start, end)
    for override in schedule.overrides:
        for probe in (override.start, override.end - timedelta(microseconds=1)):
            if start <= probe < end:
                shift = next(s for s in shifts if s.covers(probe))
                assert shift.source == ShiftSource.OVERRIDE


@settings(max_examples=80, deadline=None)
@given(schedules(), ranges(), st.floats(0.01, 0.99))
def test_rendering_a_range_equals_the_union_of_its_halves(
    schedule: Schedule, window: tuple[datetime, datetime], cut: float
) -> None:
    start, end = window
    middle = start + (end - start) * cut
    middle = middle.replace(microsecond=0)
    if not start < middle < end:
        middle = start + (end - start) / 2
    halves = render(schedule, start, middle) + render(schedule, middle, end)
    assert merge_adjacent(halves) == render(schedule, start, end)


@settings(max_examples=60, deadline=None)
@given(schedules(), instants)
def test_who_is_on_call_agrees_with_the_rendered_timeline(schedule: Schedule, at: datetime) -> None:
    shift = who_is_on_call(schedule, at)
    rendered = render(schedule, at - timedelta(days=2), at + timedelta(days=2))
    expected = next(s for s in rendered if s.covers(at))
    assert shift.covers(at) and shift.same_answer(expected)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["Europe/Paris", "America/New_York"]),
    st.sampled_from([TurnUnit.DAYS, TurnUnit.WEEKS]),
    st.integers(1, 3),
    local_times.filter(lambda t: 4 <= t.hour <= 22),  # a wall-clock time every day has
    st.integers(20, 120),
)
def test_daily_and_weekly_handoffs_stay_at_local_wall_clock_time(
    zone: str, unit: TurnUnit, length: int, rotation_start: datetime, days: int
) -> None:
    layer = Layer("l", ("a", "b", "c", "d"), rotation_start, unit, length)
    tz = ZoneInfo(zone)
    start = rotation_start.replace(tzinfo=tz).astimezone(UTC)
    shifts = render(Schedule("s", zone, (layer,)), start, start + timedelta(days=days))
    for shift in shifts[1:]:
        handoff = shift.start.astimezone(tz)
        assert handoff.time() == rotation_start.time()
        assert handoff.weekday() == rotation_start.weekday() or unit == TurnUnit.DAYS
