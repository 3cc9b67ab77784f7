"""The incident rules as a table (every status × every command) and as properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from oncallnova.incidents.rules import (
    IncidentBook,
    IncidentState,
    candidate_incident_id,
    decide,
    reopened_key_incident_id,
    target_for_alert,
    transition,
    unmatched_incident_id,
)
from schemas.alert_v1 import CanonicalAlertV1
from schemas.incident_v1 import IncidentCommandV1

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
SERVICE = "svc-1"


def incident(status: str = "triggered", **changes: Any) -> IncidentState:
    base = IncidentState(
        id="inc-1", number=7, title="disk full", status=status, severity="error",
        urgency="high", service_id=SERVICE, dedup_key="disk", fingerprint="fp:1:" + "a" * 64,
        alert_count=1, assignee_id=None, escalation_level=0, created_at=T0, updated_at=T0,
        last_alert_at=T0,
        acknowledged_at=T0 if status == "acknowledged" else None,
        resolved_at=T0 if status == "resolved" else None,
    )  # fmt: skip
    return replace(base, **changes)


def alert(action: str = "trigger", alert_id: str = "a1", **fields: Any) -> CanonicalAlertV1:
    return CanonicalAlertV1.model_validate(
        {
            "alert_id": alert_id,
            "service_id": SERVICE,
            "action": action,
            "fingerprint": "fp:1:" + "a" * 64,
            "dedup_key": "disk",
            "summary": "disk full",
            "severity": "error",
            "occurred_at": T0,
            "source_format": "pagerduty",
            **fields,
        }
    )


def alert_command(a: CanonicalAlertV1, incident_id: str | None = None) -> IncidentCommandV1:
    return IncidentCommandV1(
        action=a.action,  # type: ignore[arg-type]
        incident_id=incident_id or candidate_incident_id(a.alert_id),
        service_id=a.service_id,
        dedup_key=a.dedup_key,
        alert=a,
        actor=f"integration:{a.service_id}",
    )


def human(action: str, **fields: Any) -> IncidentCommandV1:
    return IncidentCommandV1(action=action, incident_id="inc-1", actor="user:u1", **fields)  # type: ignore[arg-type]


# status × human command → (new status, event or None when dropped)
TABLE = [
    ("triggered", "acknowledge", "acknowledged", "acknowledged"),
    ("triggered", "resolve", "resolved", "resolved"),
    ("triggered", "escalate", "triggered", "escalated"),
    ("triggered", "reassign", "triggered", "reassigned"),
    ("triggered", "add_note", "triggered", "note_added"),
    ("triggered", "trigger", "triggered", "alert_attached"),
    ("acknowledged", "acknowledge", "acknowledged", None),
    ("acknowledged", "resolve", "resolved", "resolved"),
    ("acknowledged", "escalate", "triggered", "escalated"),
    ("acknowledged", "reassign", "triggered", "reassigned"),
    ("acknowledged", "add_note", "acknowledged", "note_added"),
    ("acknowledged", "trigger", "acknowledged", "alert_attached"),
    ("resolved", "acknowledge", "resolved", None),
    ("resolved", "resolve", "resolved", None),
    ("resolved", "escalate", "resolved", None),
    ("resolved", "reassign", "resolved", None),
    ("resolved", "add_note", "resolved", "note_added"),
    ("resolved", "trigger", "resolved", None),
]


@pytest.mark.parametrize(("status", "action", "new_status", "event"), TABLE)
def test_transition_table(status: str, action: str, new_status: str, event: str | None) -> None:
    assert transition(status, action) == (new_status, event)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "action", "new_status", "event"), TABLE)
def test_decide_for_a_person(status: str, action: str, new_status: str, event: str | None) -> None:
    if action == "trigger":
        pytest.skip("a trigger always carries an alert")
    before = incident(status)
    outcome = decide(before, human(action, note="n"), source_id="cmd-1", now=LATER)
    assert outcome.incident is not None
    assert outcome.incident.status == new_status
    assert [f.event for f in outcome.facts] == ([event] if event else [])
    if event is None:
        assert outcome.incident == before  # dropped: nothing changes, not even updated_at
    else:
        assert outcome.incident.updated_at == LATER
        assert outcome.facts[0].actor == "user:u1"
        assert outcome.facts[0].source_id == "cmd-1"


def test_each_fact_sets_its_time_and_fields() -> None:
    acked = decide(incident(), human("acknowledge"), source_id="c", now=LATER).incident
    assert acked is not None and acked.acknowledged_at == LATER
    resolved = decide(incident(), human("resolve"), source_id="c", now=LATER).incident
    assert resolved is not None and resolved.resolved_at == LATER
    escalated = decide(incident(), human("escalate"), source_id="c", now=LATER).incident
    assert escalated is not None and escalated.escalation_level == 1
    jumped = decide(incident(), human("escalate", escalation_level=3), source_id="c", now=LATER)
    assert jumped.incident is not None and jumped.incident.escalation_level == 3
    reassigned = decide(incident(), human("reassign", assignee_id="u9"), source_id="c", now=LATER)
    assert reassigned.incident is not None and reassigned.incident.assignee_id == "u9"
    noted = decide(incident(), human("add_note", note="looking"), source_id="c", now=LATER)
    assert noted.facts[0].note == "looking"


def test_a_command_for_no_incident_is_dropped() -> None:
    assert decide(None, human("acknowledge"), source_id="c", now=LATER).incident is None
    ack = alert_command(alert("acknowledge"))
    outcome = decide(None, ack, source_id="a1", now=LATER)
    assert outcome.incident is None and not outcome.changed


def test_a_trigger_with_nothing_open_opens_an_incident_on_its_candidate_id() -> None:
    a = alert()
    outcome = decide(None, alert_command(a), source_id=a.alert_id, now=LATER)
    assert outcome.opened
    assert outcome.incident is not None
    assert outcome.incident.id == candidate_incident_id(a.alert_id)
    assert (outcome.incident.status, outcome.incident.alert_count) == ("triggered", 1)
    assert outcome.incident.urgency == "high"
    assert [f.event for f in outcome.facts] == ["triggered"]


def test_a_trigger_whose_candidate_is_taken_opens_on_an_id_of_its_own() -> None:
    a = alert()
    outcome = decide(None, alert_command(a), source_id="a1", now=LATER, candidate_taken=True)
    assert outcome.incident is not None
    assert outcome.incident.id == reopened_key_incident_id(a.alert_id)


def test_an_alert_joining_raises_severity_and_notifies_only_while_triggered() -> None:
    critical = alert(alert_id="a2", severity="critical")
    joined = decide(incident(), alert_command(critical), source_id="a2", now=LATER)
    assert joined.incident is not None
    assert (joined.incident.severity, joined.incident.alert_count) == ("critical", 2)
    assert joined.facts[0].notify
    quiet = decide(incident("acknowledged"), alert_command(critical), source_id="a2", now=LATER)
    assert quiet.incident is not None and quiet.incident.status == "acknowledged"
    assert not quiet.facts[0].notify
    info = decide(incident(), alert_command(alert(severity="info")), source_id="a3", now=LATER)
    assert info.incident is not None and info.incident.severity == "error"


def test_targets() -> None:
    a = alert()
    open_one, resolved = incident(), incident("resolved")
    assert target_for_alert(a, None, open_one) is open_one
    assert target_for_alert(a, open_one, None) is open_one
    assert target_for_alert(a, resolved, None) is None
    assert target_for_alert(a, replace(open_one, dedup_key="other"), None) is None


def test_identity_is_stable_and_distinct() -> None:
    assert candidate_incident_id("x") == candidate_incident_id("x")
    assert len({candidate_incident_id("x"), reopened_key_incident_id("x")}) == 2
    assert unmatched_incident_id("s", "k") != unmatched_incident_id("s", "k2")


# --- properties over random command sequences on one dedup key -----------------------------

ACTIONS = st.sampled_from(["trigger", "acknowledge", "resolve", "escalate", "add_note"])
SOURCES = st.sampled_from(["alert", "human"])


def run(steps: list[tuple[str, str]]) -> tuple[IncidentBook, list[Any]]:
    """Apply a sequence through the book, as the lifecycle would, one command per source."""
    book = IncidentBook()
    commands = []
    for n, (source, action) in enumerate(steps):
        now = T0 + timedelta(seconds=n)
        if source == "alert" and action in ("trigger", "acknowledge", "resolve"):
            a = alert(action, alert_id=f"a{n}")
            command = alert_command(a)
            src = a.alert_id
        else:
            open_ = book.open_by_key.get((SERVICE, "disk"))
            target = open_.id if open_ else "nothing-open"
            command = IncidentCommandV1(action=action, incident_id=target, actor="user:u")  # type: ignore[arg-type]
            src = f"cmd{n}"
        before = dict(book.by_id)
        outcome = book.apply(command, src, now)
        commands.append((command, src, now, before, outcome))
    return book, commands


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(SOURCES, ACTIONS), max_size=25))
def test_an_alert_never_reopens_a_resolved_incident(steps: list[tuple[str, str]]) -> None:
    _, commands = run(steps)
    for command, _, _, before, outcome in commands:
        if command.alert is None or outcome.incident is None:
            continue
        was = before.get(outcome.incident.id)
        if was is not None and was.status == "resolved":
            assert outcome.incident.status == "resolved" and not outcome.changed


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(SOURCES, ACTIONS), max_size=25))
def test_alert_count_equals_alerts_attached(steps: list[tuple[str, str]]) -> None:
    book, _ = run(steps)
    attached: dict[str, int] = {}
    for alert_, incident_id in book.alert_incidents:
        if alert_.action == "trigger" and incident_id is not None:
            attached[incident_id] = attached.get(incident_id, 0) + 1
    assert {i: s.alert_count for i, s in book.by_id.items()} == attached


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(SOURCES, ACTIONS), max_size=25), st.sampled_from(["acknowledge", "resolve"])
)
def test_acknowledging_or_resolving_twice_changes_nothing_the_second_time(
    steps: list[tuple[str, str]], action: str
) -> None:
    book, _ = run(steps)
    for state in list(book.by_id.values()):
        once = decide(state, human(action), source_id="x", now=LATER)
        assert once.incident is not None
        twice = decide(once.incident, human(action), source_id="y", now=LATER + timedelta(1))
        assert twice.incident == once.incident and not twice.changed


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(SOURCES, ACTIONS), min_size=1, max_size=25))
# Two commands without an alert joining an incident: each must keep a fact (its id) of its own.
@example([("alert", "trigger"), ("human", "trigger"), ("human", "trigger")])
def test_a_redelivered_command_is_a_no_op(steps: list[tuple[str, str]]) -> None:
    """Each command delivered twice in a row: the lifecycle skips a source it has recorded (a
    fact's source, a stored alert); whatever it cannot recognise must change nothing again."""
    book = IncidentBook()
    for n, (command, src, now, _, _) in enumerate(run(steps)[1]):
        book.apply(command, src, now)
        recorded = {f.source_id for _, f in book.facts} | {
            a.alert_id for a, _ in book.alert_incidents
        }
        if src in recorded:
            continue
        again = book.apply(command, src, now + timedelta(milliseconds=n + 1))
        assert not again.changed
