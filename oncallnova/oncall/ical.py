"""iCalendar (RFC 5545) feeds of rendered shifts, for a schedule or for one person."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from icalendar import Calendar, Event

from oncallnova.display import safe_text
from oncallnova.oncall.model import Shift, ShiftSource

_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def _one_line(text: str) -> str:
    """A name as one line of calendar text: line breaks become spaces (a raw newline would end
    the content line), other control and bidi characters visible escapes."""
    return safe_text(_LINE_BREAKS.sub(" ", text))


PRODID = "-//OnCallNova//On-call schedules//EN"


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", _one_line(name))
    return calendar


def _event(uid: str, summary: str, shift: Shift, stamp: datetime, description: str) -> Event:
    event = Event()
    # A UID stable across fetches lets a subscribed calendar update events instead of
    # duplicating them.
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", shift.start.astimezone(UTC))
    event.add("dtend", shift.end.astimezone(UTC))
    event.add("summary", _one_line(summary))
    event.add("description", _one_line(description))
    event.add("transp", "TRANSPARENT")  # being on call does not make a person busy
    return event


def _reason(shift: Shift) -> str:
    if shift.source == ShiftSource.OVERRIDE:
        return f"override {shift.override_id}"
    if shift.source == ShiftSource.LAYER:
        return f"layer {(shift.layer_index or 0) + 1} ({shift.layer_id})"
    return "gap: nobody is on call"


def schedule_calendar(
    schedule_id: str,
    schedule_name: str,
    shifts: Iterable[Shift],
    user_name: Callable[[str], str],
    generated_at: datetime,
) -> bytes:
    """A calendar of every shift of a schedule; gaps appear as events so they are seen."""
    calendar = _calendar(f"On call: {schedule_name}")
    for shift in shifts:
        who = "GAP: nobody on call" if shift.user_id is None else user_name(shift.user_id)
        uid = f"{schedule_id}-{shift.start.astimezone(UTC):%Y%m%dT%H%M%SZ}@oncallnova"
        calendar.add_component(
            _event(uid, f"{who} — {schedule_name}", shift, generated_at, _reason(shift))
        )
    return calendar.to_ical()


def user_calendar(
    user_id: str,
    user_name: str,
    shifts: Iterable[tuple[str, str, Shift]],
    generated_at: datetime,
) -> bytes:
    """A calendar of one person's shifts: `(schedule_id, schedule_name, shift)` triples."""
    calendar = _calendar(f"{user_name}: on-call shifts")
    for schedule_id, schedule_name, shift in shifts:
        uid = f"{schedule_id}-{user_id}-{shift.start.astimezone(UTC):%Y%m%dT%H%M%SZ}@oncallnova"
        calendar.add_component(
            _event(uid, f"On call: {schedule_name}", shift, generated_at, _reason(shift))
        )
    return calendar.to_ical()
