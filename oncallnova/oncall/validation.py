"""Rules a schedule must satisfy before it is stored; each error names the offending field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from oncallnova.errors import Conflict, InvalidInput
from oncallnova.oncall.localtime import EARLIEST, LATEST, is_nonexistent, zone
from oncallnova.oncall.model import Layer, Override, TurnUnit

MAX_TURN_HOURS = 24 * 7 * 52  # a turn longer than a year is almost surely a typo


def validate_layer(layer: Layer, time_zone: str, field: str = "layer") -> None:
    """Raise InvalidInput if `layer` cannot rotate in `time_zone`."""
    tz = zone(time_zone)
    if not layer.user_ids:
        raise InvalidInput("a layer needs at least one user", field=f"{field}.users")
    if layer.turn_length < 1:
        raise InvalidInput("turn_length must be at least 1", field=f"{field}.turn_length")
    hours = {TurnUnit.HOURS: 1, TurnUnit.DAYS: 24, TurnUnit.WEEKS: 168}[TurnUnit(layer.turn_unit)]
    if layer.turn_length * hours > MAX_TURN_HOURS:
        raise InvalidInput("a turn may last at most 52 weeks", field=f"{field}.turn_length")
    for name, moment in (("rotation_start", layer.rotation_start), ("end", layer.end)):
        if moment is not None and not (
            EARLIEST.replace(tzinfo=None)
            <= moment.replace(tzinfo=None)
            <= LATEST.replace(tzinfo=None)
        ):
            raise InvalidInput("must be between 1900-01-01 and 9000-01-01", field=f"{field}.{name}")
    # A recurring handoff that lands in a DST gap follows the RFC 5545 rule, but the first
    # handoff is one explicit instant: if it does not exist, the caller meant something else.
    if is_nonexistent(layer.rotation_start, tz):
        raise InvalidInput(
            f"{layer.rotation_start.isoformat()} does not exist in {time_zone} "
            "(skipped by a daylight-saving change)",
            field=f"{field}.rotation_start",
        )
    if layer.end is not None and layer.end <= layer.rotation_start:
        raise InvalidInput("end must be after rotation_start", field=f"{field}.end")
    for number, restriction in enumerate(layer.restrictions):
        if not restriction.weekdays or not restriction.weekdays <= set(range(7)):
            raise InvalidInput(
                "weekdays must be a non-empty subset of 0 (Monday) … 6 (Sunday)",
                field=f"{field}.restrictions[{number}].weekdays",
            )


def validate_override(override: Override, field: str = "override") -> None:
    """Raise InvalidInput if the override's interval is empty or not in UTC-aware instants."""
    for name, value in (("start", override.start), ("end", override.end)):
        if value.tzinfo is None:
            raise InvalidInput("a time zone offset is required", field=f"{field}.{name}")
    if override.end <= override.start:
        raise InvalidInput("end must be after start", field=f"{field}.end")


def overlapping(start: datetime, end: datetime, others: Iterable[Override]) -> Override | None:
    """The first of `others` sharing an instant with `[start, end)`, if any."""
    return next((other for other in others if other.start < end and start < other.end), None)


def reject_overlap(override: Override, existing: Iterable[Override]) -> None:
    """Raise Conflict if `override` overlaps one already on the schedule (our rule: at most one)."""
    clash = overlapping(override.start, override.end, existing)
    if clash is not None:
        raise Conflict(
            f"overlaps override {clash.id} ({clash.start.isoformat()} – {clash.end.isoformat()}); "
            "delete or shorten it first",
            field="start",
        )
