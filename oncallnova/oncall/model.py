"""Plain inputs and outputs of schedule resolution: no database, no I/O.

Every instant is an aware datetime; intervals are half-open `[start, end)`. Local wall-clock
values (a layer's rotation start, a restriction's window) are naive and read in the
schedule's IANA time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum


class TurnUnit(StrEnum):
    """Unit of a layer's turn length; every unit is counted on the local wall clock."""

    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


class ShiftSource(StrEnum):
    """What put someone on call for a shift, or `gap` when nobody is."""

    LAYER = "layer"
    OVERRIDE = "override"
    GAP = "gap"


@dataclass(frozen=True)
class Restriction:
    """A window in which a layer is in force: on `weekdays` (0 = Monday), `start`→`end` local.

    `end <= start` means the window runs past midnight into the next day; `end == start`
    means a whole 24 hours from `start`.
    """

    weekdays: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True)
class Layer:
    """A rotation: `user_ids` take turns of `turn_length` `turn_unit`, from `rotation_start`.

    `rotation_start` is local wall-clock time in the schedule's zone: the first user's first
    turn begins there, and every handoff happens at the same local time (and weekday, for
    weekly turns). The layer covers nothing before `rotation_start` or from `end` on.
    """

    id: str
    user_ids: tuple[str, ...]
    rotation_start: datetime
    turn_unit: TurnUnit
    turn_length: int = 1
    restrictions: tuple[Restriction, ...] = ()
    end: datetime | None = None
    name: str = ""


@dataclass(frozen=True)
class Override:
    """`user_id` is on call for `[start, end)`, whatever the layers say."""

    id: str
    user_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Schedule:
    """Layers ordered bottom to top (a later layer wins where it has someone), plus overrides."""

    id: str
    time_zone: str
    layers: tuple[Layer, ...] = ()
    overrides: tuple[Override, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Shift:
    """One piece of the rendered schedule: who (or nobody) is on call and why."""

    start: datetime
    end: datetime
    user_id: str | None
    source: ShiftSource
    layer_id: str | None = None
    layer_index: int | None = None
    override_id: str | None = None

    def covers(self, at: datetime) -> bool:
        """True if `at` falls inside this shift."""
        return self.start <= at < self.end

    def same_answer(self, other: Shift) -> bool:
        """True if both shifts say the same thing, so adjacent ones can merge."""
        return (self.user_id, self.source, self.layer_id, self.override_id) == (
            other.user_id,
            other.source,
            other.layer_id,
            other.override_id,
        )


@dataclass(frozen=True)
class Turn:
    """One user's turn in a layer, already in UTC instants."""

    index: int
    user_id: str
    start: datetime
    end: datetime
