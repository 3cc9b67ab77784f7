"""Escalation policies, modelled and resolved: "at level k, at time t, who is paged?".

Levels are numbered from 1, as PagerDuty numbers them. A policy runs its levels in order,
waiting each level's `delay_minutes` before the next, and then starts again from level 1
`num_loops` more times (PagerDuty's meaning: `num_loops = 0` runs the levels once). The
timers themselves belong to the escalator worker; this module only answers questions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from oncallnova.errors import InvalidInput, NotFound
from oncallnova.oncall.model import Schedule, Shift, ShiftSource
from oncallnova.oncall.render import who_is_on_call

MAX_LOOPS = 9  # PagerDuty's limit; a policy that loops for ever pages for ever.


class TargetKind(StrEnum):
    USER = "user"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class EscalationTarget:
    kind: TargetKind
    id: str


@dataclass(frozen=True)
class EscalationLevel:
    targets: tuple[EscalationTarget, ...]
    delay_minutes: int
    id: str = ""


@dataclass(frozen=True)
class EscalationPolicy:
    id: str
    levels: tuple[EscalationLevel, ...]
    num_loops: int = 0
    name: str = ""


@dataclass(frozen=True)
class Page:
    """One answer for a level: a user to page, or a schedule target with a gap."""

    level: int
    target: EscalationTarget
    user_id: str | None
    shift: Shift | None  # None for a user targeted directly

    @property
    def is_gap(self) -> bool:
        return self.shift is not None and self.shift.source == ShiftSource.GAP


@dataclass(frozen=True)
class EscalationStep:
    """Where a running escalation stands: which level, in which pass, until when."""

    level: int
    loop: int
    started_at: datetime
    next_step_at: datetime | None  # None once the final level of the final pass is reached


def validate_policy(policy: EscalationPolicy) -> None:
    """Raise InvalidInput naming the field if the policy cannot page anyone sensibly."""
    if not policy.levels:
        raise InvalidInput("an escalation policy needs at least one level", field="levels")
    if not 0 <= policy.num_loops <= MAX_LOOPS:
        raise InvalidInput(f"num_loops must be between 0 and {MAX_LOOPS}", field="num_loops")
    for number, level in enumerate(policy.levels):
        if not level.targets:
            raise InvalidInput(
                "a level needs at least one target", field=f"levels[{number}].targets"
            )
        if level.delay_minutes < 1:
            raise InvalidInput(
                "delay_minutes must be at least 1", field=f"levels[{number}].delay_minutes"
            )
        if len(set(level.targets)) != len(level.targets):
            raise InvalidInput(
                "a level lists the same target twice", field=f"levels[{number}].targets"
            )


def who_is_paged(
    policy: EscalationPolicy, schedules: Mapping[str, Schedule], level: int, at: datetime
) -> list[Page]:
    """Who level `level` (1-based) pages at `at`, target by target, gaps included."""
    if not 1 <= level <= len(policy.levels):
        raise InvalidInput(f"level must be between 1 and {len(policy.levels)}", field="level")
    pages: list[Page] = []
    for target in policy.levels[level - 1].targets:
        if target.kind == TargetKind.USER:
            pages.append(Page(level, target, target.id, None))
            continue
        schedule = schedules.get(target.id)
        if schedule is None:
            raise NotFound(f"schedule {target.id} not found", field="schedule")
        shift = who_is_on_call(schedule, at)
        pages.append(Page(level, target, shift.user_id, shift))
    return pages


def step_at(policy: EscalationPolicy, triggered_at: datetime, at: datetime) -> EscalationStep:
    """The level an escalation triggered at `triggered_at` has reached at `at`."""
    if at < triggered_at:
        raise InvalidInput("at must not be before the trigger time", field="at")
    started = triggered_at
    passes = policy.num_loops + 1
    for loop in range(passes):
        for number, level in enumerate(policy.levels, start=1):
            last = loop == passes - 1 and number == len(policy.levels)
            ends = None if last else started + timedelta(minutes=level.delay_minutes)
            if ends is None or at < ends:
                return EscalationStep(number, loop, started, ends)
            started = ends
    raise AssertionError("unreachable: the final level has no end")
