"""Escalation policies: validation, who a level pages, and where a running escalation is."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from oncallnova.errors import InvalidInput
from oncallnova.oncall import (
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    Layer,
    Schedule,
    ShiftSource,
    TargetKind,
    TurnUnit,
    step_at,
    validate_policy,
    who_is_paged,
)
from tests.unit.oncall import rota
from tests.unit.oncall.helpers import local

PRIMARY = EscalationTarget(TargetKind.SCHEDULE, "rota")
NIGHTS = EscalationTarget(TargetKind.SCHEDULE, "nights")
BOSS = EscalationTarget(TargetKind.USER, "boss")
NIGHTS_SCHEDULE = Schedule(
    "nights", "UTC", (Layer("n", ("nina",), datetime(2024, 4, 1), TurnUnit.DAYS),)
)
POLICY = EscalationPolicy(
    "p",
    (
        EscalationLevel((PRIMARY,), delay_minutes=10),
        EscalationLevel((NIGHTS, BOSS), delay_minutes=30),
    ),
    num_loops=1,
)
SCHEDULES = {"rota": rota.SCHEDULE, "nights": NIGHTS_SCHEDULE}


def test_level_one_pages_whoever_the_schedule_has_on_call() -> None:
    pages = who_is_paged(POLICY, SCHEDULES, 1, local(rota.ZONE, "2024-03-27 12:15"))
    assert [(p.user_id, p.shift and p.shift.source) for p in pages] == [
        ("frank", ShiftSource.OVERRIDE)
    ]


def test_level_two_pages_users_directly_and_reports_a_schedule_gap() -> None:
    # The nights schedule starts on 1 April: before then it has a gap, reported as such.
    pages = who_is_paged(POLICY, SCHEDULES, 2, local("UTC", "2024-03-27 12:00"))
    assert [(p.target, p.user_id, p.is_gap) for p in pages] == [
        (NIGHTS, None, True),
        (BOSS, "boss", False),
    ]


@pytest.mark.parametrize("level", [0, 3])
def test_a_level_outside_the_policy_is_invalid(level: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        who_is_paged(POLICY, SCHEDULES, level, local("UTC", "2024-03-27 12:00"))
    assert caught.value.field == "level"


T0 = local("UTC", "2024-03-27 12:00")


@pytest.mark.parametrize(
    "minutes,level,loop,next_in",
    [
        (0, 1, 0, 10),
        (9, 1, 0, 10),
        (10, 2, 0, 40),
        (39, 2, 0, 40),
        (40, 1, 1, 50),  # num_loops = 1: a second pass
        (50, 2, 1, None),  # final level of the final pass: no further step
        (5000, 2, 1, None),
    ],
)
def test_step_at_follows_delays_and_loops(
    minutes: int, level: int, loop: int, next_in: int | None
) -> None:
    step = step_at(POLICY, T0, T0 + timedelta(minutes=minutes))
    assert (step.level, step.loop) == (level, loop)
    expected_next = None if next_in is None else T0 + timedelta(minutes=next_in)
    assert step.next_step_at == expected_next


@pytest.mark.parametrize(
    "policy,field",
    [
        (EscalationPolicy("p", ()), "levels"),
        (EscalationPolicy("p", (EscalationLevel((), 5),)), "levels[0].targets"),
        (EscalationPolicy("p", (EscalationLevel((BOSS,), 0),)), "levels[0].delay_minutes"),
        (EscalationPolicy("p", (EscalationLevel((BOSS, BOSS), 5),)), "levels[0].targets"),
        (EscalationPolicy("p", (EscalationLevel((BOSS,), 5),), num_loops=10), "num_loops"),
    ],
)
def test_invalid_policies_name_the_field(policy: EscalationPolicy, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_policy(policy)
    assert caught.value.field == field
