"""Alerts joining one incident in one batch are one timeline fact ("N alerts"), as properties
over random batches on two dedup keys: counts stay exact, every alert is covered once, and
nothing but consecutive alerts of one incident is ever merged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from oncallnova.incidents.rules import (
    Fact,
    IncidentBook,
    attached_message,
    can_merge,
    candidate_incident_id,
    merge_attached,
)
from schemas.alert_v1 import CanonicalAlertV1
from schemas.incident_v1 import IncidentCommandV1

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SERVICE = "svc-1"
KEYS = st.sampled_from(["disk", "cpu"])
STEP = st.tuples(
    st.sampled_from(["trigger", "trigger", "trigger", "acknowledge", "resolve", "note"]), KEYS
)


def alert_command(n: int, action: str, key: str) -> tuple[IncidentCommandV1, str]:
    alert = CanonicalAlertV1.model_validate(
        {
            "alert_id": f"a{n}", "service_id": SERVICE, "action": action,
            "fingerprint": "fp:1:" + "a" * 64, "dedup_key": key, "summary": f"{key} #{n}",
            "severity": "error", "occurred_at": T0, "source_format": "pagerduty",
        }
    )  # fmt: skip
    command = IncidentCommandV1(
        action=action,  # type: ignore[arg-type]
        incident_id=candidate_incident_id(alert.alert_id),
        service_id=SERVICE,
        dedup_key=key,
        alert=alert,
        actor=f"integration:{SERVICE}",
    )
    return command, alert.alert_id


def run(steps: list[tuple[str, str]]) -> tuple[IncidentBook, list[tuple[str, Fact]]]:
    """One batch through the book; also every fact unmerged, as each command stated it."""
    book = IncidentBook()
    unmerged: list[tuple[str, Fact]] = []
    for n, (action, key) in enumerate(steps):
        if action == "note":
            open_ = book.open_by_key.get((SERVICE, key))
            target = open_.id if open_ else "nothing-open"
            command = IncidentCommandV1(
                action="add_note", incident_id=target, actor="user:u", note="looking"
            )
            source = f"cmd{n}"
        else:
            command, source = alert_command(n, action, key)
        outcome = book.apply(command, source, T0 + timedelta(seconds=n))
        if outcome.incident is not None:
            unmerged += [(outcome.incident.id, f) for f in outcome.facts]
    return book, unmerged


def alerts_in(fact: Fact) -> int:
    return fact.alerts if fact.event in ("triggered", "alert_attached") else 0


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=40))
def test_alert_count_equals_the_alerts_its_facts_stand_for(steps: list[tuple[str, str]]) -> None:
    book, _ = run(steps)
    counted: dict[str, int] = {}
    for incident_id, fact in book.facts:
        counted[incident_id] = counted.get(incident_id, 0) + alerts_in(fact)
    stored: dict[str, int] = {}
    for alert, incident_id in book.alert_incidents:
        if alert.action == "trigger" and incident_id is not None:
            stored[incident_id] = stored.get(incident_id, 0) + 1
    assert counted == stored == {i: s.alert_count for i, s in book.by_id.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=40))
def test_merging_folds_exactly_the_runs_of_alerts_joining_one_incident(
    steps: list[tuple[str, str]],
) -> None:
    book, unmerged = run(steps)
    # Reference: per incident, fold each fact into the previous one when both are alerts
    # joining it with the same notify flag.
    expected: dict[str, list[tuple[str, str, int, str | None]]] = {}
    for incident_id, fact in unmerged:
        facts = expected.setdefault(incident_id, [])
        last = facts[-1] if facts else None
        if last and last[0] == fact.event == "alert_attached" and last[3] == str(fact.notify):
            facts[-1] = (last[0], last[1], last[2] + 1, last[3])
        else:
            facts.append((fact.event, fact.source_id, 1, str(fact.notify)))
    merged: dict[str, list[tuple[str, str, int, str | None]]] = {}
    for incident_id, fact in book.facts:
        merged.setdefault(incident_id, []).append(
            (fact.event, fact.source_id, fact.alerts, str(fact.notify))
        )
    assert merged == expected
    # The merged counts sum to the alerts they replace, and each keeps its first and last.
    assert sum(f.alerts for _, f in book.facts) == len(unmerged)
    by_source = {f.source_id: f for _, f in unmerged}
    order = [f.source_id for _, f in unmerged]
    for _, fact in book.facts:
        if fact.alerts > 1:
            assert fact.alert_id == fact.source_id == by_source[fact.source_id].alert_id
            assert fact.last_alert_id in by_source
            assert order.index(fact.last_alert_id) > order.index(fact.source_id)
            assert fact.message.startswith(f"{fact.alerts} alerts attached: ")


@settings(max_examples=200, deadline=None)
@given(st.lists(STEP, max_size=40))
def test_each_facts_snapshot_is_the_incident_after_its_last_alert(
    steps: list[tuple[str, str]],
) -> None:
    """The event of a merged fact carries the incident as the last of its alerts left it: for
    the last fact of each incident, the incident as the batch leaves it."""
    book, _ = run(steps)
    last: dict[str, int] = {}
    for index, (incident_id, _) in enumerate(book.facts):
        last[incident_id] = index
    for incident_id, index in last.items():
        assert book.snapshots[index] == book.by_id[incident_id]


def test_one_key_storm_in_one_batch_is_one_trigger_and_one_attached_fact() -> None:
    book, _ = run([("trigger", "disk")] * 256)
    [(opened, triggered), (same, attached)] = book.facts
    assert opened == same and triggered.event == "triggered" and triggered.alerts == 1
    assert (attached.event, attached.alerts) == ("alert_attached", 255)
    assert (attached.alert_id, attached.last_alert_id) == ("a1", "a255")
    assert attached.message == "255 alerts attached: disk #255"
    assert book.by_id[opened].alert_count == 256


def test_an_acknowledge_in_between_keeps_alerts_before_and_after_apart() -> None:
    book, _ = run([("trigger", "disk")] * 3 + [("acknowledge", "disk")] + [("trigger", "disk")] * 2)
    assert [(f.event, f.alerts, f.notify) for _, f in book.facts] == [
        ("triggered", 1, True),
        ("alert_attached", 2, True),
        ("acknowledged", 1, True),
        ("alert_attached", 2, False),  # while acknowledged: recorded, nobody notified
    ]


def test_merge_rules() -> None:
    one = Fact("alert_attached", "integration:s", "a1", attached_message(1, "x"), alert_id="a1")
    two = Fact("alert_attached", "integration:s", "a2", attached_message(1, "y"), alert_id="a2")
    assert one.message == "Alert attached: x"
    assert can_merge(one, two)
    merged = merge_attached(merge_attached(one, two, "y"), two.__class__(**{
        **{k: getattr(two, k) for k in two.__slots__}, "source_id": "a3", "alert_id": "a3"
    }), "z")  # fmt: skip
    assert (merged.alerts, merged.source_id, merged.last_alert_id) == (3, "a1", "a3")
    assert merged.message == "3 alerts attached: z"
    # A command without an alert is known done only by its own timeline entry: never folded.
    bare = Fact("alert_attached", "user:u", "cmd5", "Alert attached")
    assert not can_merge(one, bare) and not can_merge(bare, bare)
    silent = Fact("alert_attached", "integration:s", "a4", "", alert_id="a4", notify=False)
    assert not can_merge(one, silent)
    assert not can_merge(Fact("triggered", "integration:s", "a0", ""), one)
