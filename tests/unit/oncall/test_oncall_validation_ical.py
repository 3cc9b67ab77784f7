"""Layer and override validation, and iCalendar output parsed back with `icalendar`."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from icalendar import Calendar

from oncallnova.errors import Conflict, InvalidInput
from oncallnova.oncall import Layer, Override, Restriction, TurnUnit, render
from oncallnova.oncall.ical import schedule_calendar, user_calendar
from oncallnova.oncall.validation import reject_overlap, validate_layer, validate_override
from tests.unit.oncall import rota
from tests.unit.oncall.helpers import local

GOOD = Layer("l", ("a",), datetime(2024, 3, 4, 9), TurnUnit.WEEKS)


@pytest.mark.parametrize(
    "layer,zone,field",
    [
        (Layer("l", (), GOOD.rotation_start, TurnUnit.DAYS), "UTC", "layers[0].users"),
        (Layer("l", ("a",), GOOD.rotation_start, TurnUnit.DAYS, 0), "UTC", "layers[0].turn_length"),
        (
            Layer("l", ("a",), GOOD.rotation_start, TurnUnit.WEEKS, 53),
            "UTC",
            "layers[0].turn_length",
        ),
        # 02:30 on 2024-03-31 never happens in Paris.
        (
            Layer("l", ("a",), datetime(2024, 3, 31, 2, 30), TurnUnit.DAYS),
            "Europe/Paris",
            "layers[0].rotation_start",
        ),
        (
            Layer("l", ("a",), datetime(2024, 3, 10, 2, 15), TurnUnit.DAYS),
            "America/New_York",
            "layers[0].rotation_start",
        ),
        (
            Layer("l", ("a",), GOOD.rotation_start, TurnUnit.DAYS, end=GOOD.rotation_start),
            "UTC",
            "layers[0].end",
        ),
        (
            Layer(
                "l",
                ("a",),
                GOOD.rotation_start,
                TurnUnit.DAYS,
                restrictions=(Restriction(frozenset({7}), time(9), time(17)),),
            ),
            "UTC",
            "layers[0].restrictions[0].weekdays",
        ),
        (GOOD, "Mars/Olympus_Mons", "time_zone"),
    ],
)
def test_invalid_layers_name_the_field(layer: Layer, zone: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_layer(layer, zone, "layers[0]")
    assert caught.value.field == field


def test_a_handoff_in_a_fold_is_accepted() -> None:
    # Ambiguous, not missing: the first occurrence is meant (documented rule).
    validate_layer(Layer("l", ("a",), datetime(2024, 10, 27, 2, 30), TurnUnit.DAYS), "Europe/Paris")


def test_overlapping_overrides_conflict_and_touching_ones_do_not() -> None:
    stored = [
        Override("o1", "x", local("UTC", "2024-01-01 10:00"), local("UTC", "2024-01-01 12:00"))
    ]
    touching = Override(
        "n", "y", local("UTC", "2024-01-01 12:00"), local("UTC", "2024-01-01 13:00")
    )
    reject_overlap(touching, stored)
    overlapping = Override(
        "n", "y", local("UTC", "2024-01-01 11:59"), local("UTC", "2024-01-01 13:00")
    )
    with pytest.raises(Conflict):
        reject_overlap(overlapping, stored)


def test_an_empty_override_is_invalid() -> None:
    at = local("UTC", "2024-01-01 10:00")
    with pytest.raises(InvalidInput) as caught:
        validate_override(Override("o", "x", at, at))
    assert caught.value.field == "override.end"


def test_schedule_calendar_parses_back_with_one_event_per_shift() -> None:
    start, end = (local(rota.ZONE, t) for t in rota.RANGE)
    shifts = render(rota.SCHEDULE, start, end)
    body = schedule_calendar("rota", "Rota", shifts, str.title, datetime(2024, 3, 1, tzinfo=UTC))
    calendar = Calendar.from_ical(body)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == len(shifts)
    frank = [e for e in events if str(e["SUMMARY"]).startswith("Frank")]
    assert [e.decoded("DTSTART") for e in frank] == [local(rota.ZONE, "2024-03-27 12:00")]
    assert len({str(e["UID"]) for e in events}) == len(events)


def test_user_calendar_lists_only_the_given_shifts() -> None:
    start, end = (local(rota.ZONE, t) for t in rota.RANGE)
    erin = [("rota", "Rota", s) for s in render(rota.SCHEDULE, start, end) if s.user_id == "erin"]
    calendar = Calendar.from_ical(user_calendar("erin", "Erin", erin, start))
    events = list(calendar.walk("VEVENT"))
    assert [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in events] == [
        (local(rota.ZONE, "2024-03-30 10:00"), local(rota.ZONE, "2024-03-30 14:00")),
        (local(rota.ZONE, "2024-03-31 10:00"), local(rota.ZONE, "2024-03-31 14:00")),
    ]
    assert str(calendar["VERSION"]) == "2.0"
