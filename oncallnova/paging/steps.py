"""Escalation steps as plain arithmetic.

An incident's `escalation_level` is a step counter from 0: step s pages level `s % n + 1`
(1-based, PagerDuty's numbering) in pass `s // n`. A policy with `num_loops` has
`n * (num_loops + 1)` steps; after the last one nobody else is paged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from oncallnova.oncall.escalation import EscalationPolicy

DEFAULT_DELAY_MINUTES = 30


@dataclass(frozen=True)
class Step:
    """Where step `number` lands in a policy."""

    number: int
    level: int  # 1-based
    loop: int  # 0-based pass
    delay_minutes: int  # wait before the next step
    is_last: bool


def total_steps(policy: EscalationPolicy) -> int:
    """Steps in the whole escalation, every pass included."""
    return len(policy.levels) * (policy.num_loops + 1)


def step_of(policy: EscalationPolicy, number: int) -> Step | None:
    """The level and pass of step `number`; None once the policy has run out."""
    if number < 0 or not policy.levels or number >= total_steps(policy):
        return None
    levels = len(policy.levels)
    level = policy.levels[number % levels]
    return Step(
        number=number,
        level=number % levels + 1,
        loop=number // levels,
        delay_minutes=level.delay_minutes or DEFAULT_DELAY_MINUTES,
        is_last=number == total_steps(policy) - 1,
    )


def next_step_due(step: Step, paged_at: datetime) -> datetime | None:
    """When the step after `step` pages, if nobody acknowledges; None after the last."""
    return None if step.is_last else paged_at + timedelta(minutes=step.delay_minutes)


def step_label(epoch: int, number: int) -> str:
    """The step part of a notification's idempotency key: `e<epoch>.s<step>`."""
    return f"e{epoch}.s{number}"


@dataclass(frozen=True)
class Rule:
    """A notification rule as the escalator applies it."""

    id: str
    contact_type: str
    address: str
    start_delay_in_minutes: int
    urgency: str


def rules_for(rules: list[Rule], urgency: str) -> list[Rule]:
    """The rules that fire for an incident of `urgency`, soonest first."""
    chosen = [r for r in rules if r.urgency == urgency and r.contact_type == "email"]
    return sorted(chosen, key=lambda r: (r.start_delay_in_minutes, r.address, r.id))


def notification_key(incident_id: str, step: str, user_id: str, rule: Rule) -> str:
    """Idempotency key of one notification: (incident, step, user, rule, contact method)."""
    return f"n:1:{incident_id}:{step}:{user_id}:{rule.id}:{rule.contact_type}"


def default_rules(emails: list[str]) -> list[tuple[str, str, int, str]]:
    """A new user's rules: every email contact method at once, both urgencies."""
    seen: list[str] = []
    for email in emails:
        if email and email.lower() not in [e.lower() for e in seen]:
            seen.append(email)
    return [("email", e, 0, urgency) for e in seen for urgency in ("high", "low")]
