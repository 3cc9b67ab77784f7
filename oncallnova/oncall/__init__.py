"""Schedule resolution and escalation policies as pure code: no I/O, testable alone.

Inputs are the dataclasses in `model` and `escalation`; `render` gives the resolved timeline,
`who_is_on_call` the answer at one instant, `who_is_paged` the answer for a policy level.
"""

from oncallnova.oncall.escalation import (
    EscalationLevel,
    EscalationPolicy,
    EscalationStep,
    EscalationTarget,
    Page,
    TargetKind,
    step_at,
    validate_policy,
    who_is_paged,
)
from oncallnova.oncall.model import (
    Layer,
    Override,
    Restriction,
    Schedule,
    Shift,
    ShiftSource,
    TurnUnit,
)
from oncallnova.oncall.render import merge_adjacent, render, who_is_on_call

__all__ = [
    "EscalationLevel",
    "EscalationPolicy",
    "EscalationStep",
    "EscalationTarget",
    "Layer",
    "Override",
    "Page",
    "Restriction",
    "Schedule",
    "Shift",
    "ShiftSource",
    "TargetKind",
    "TurnUnit",
    "merge_adjacent",
    "render",
    "step_at",
    "validate_policy",
    "who_is_on_call",
    "who_is_paged",
]
