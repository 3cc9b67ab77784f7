"""A dry run's decisions for a short recorded sequence, one by one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from oncallnova.incidents.rules import candidate_incident_id
from oncallnova.replay import (
    ACKNOWLEDGES,
    CHANGE,
    DROPPED,
    JOINS,
    NEW,
    RESOLVES,
    DryRun,
    StoredAlert,
)
from schemas.envelope import MSG_ID

KEY = "K" * 32
T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def stored(seq: int, body: dict, at: float, fmt: str = "pagerduty") -> StoredAlert:
    return StoredAlert(
        sequence=seq,
        subject=f"alert.received.v1.{fmt}",
        data=json.dumps(body).encode(),
        headers={MSG_ID: f"m{seq}"},
        time=T0 + timedelta(seconds=at),
    )


def pd(action: str, key: str = "db1") -> dict:
    body = {"routing_key": KEY, "event_action": action, "dedup_key": key}
    if action == "trigger":
        body["payload"] = {"summary": f"{key} down", "source": key, "severity": "critical"}
    return body


def test_each_decision_with_its_reason() -> None:
    run = DryRun({KEY: ("svc-id", "checkout")}, window_s=60)
    steps = [
        (pd("trigger"), 0, NEW, None),
        (pd("trigger"), 1, JOINS, None),
        (pd("acknowledge"), 2, ACKNOWLEDGES, None),
        (pd("trigger"), 3, JOINS, "incident acknowledged: recorded, nobody notified"),
        (pd("acknowledge"), 4, DROPPED, "acknowledge: incident already acknowledged"),
        (pd("resolve"), 5, RESOLVES, None),
        (pd("resolve"), 6, DROPPED, "resolve with nothing open on this dedup key"),
        # Inside the window, which still names the resolved incident: a new one, another id.
        (pd("trigger"), 7, NEW, "its window still named a resolved incident"),
        (pd("resolve"), 8, RESOLVES, None),
        # After the window: a new incident under the trigger's own candidate id.
        (pd("trigger"), 70, NEW, None),
    ]
    decisions = []
    for seq, (body, at, expected, reason) in enumerate(steps, start=1):
        [decision] = run.feed(stored(seq, body, at))
        assert decision.decision == expected, (seq, decision)
        assert (decision.reason or None) == reason or (reason and reason in decision.reason)
        assert decision.service == "checkout" and decision.dedup_key == "db1"
        assert decision.fingerprint and decision.fingerprint.startswith("fp:1:")
        decisions.append(decision)
    first, reopened, last = decisions[0], decisions[7], decisions[9]
    assert first.incident_id == candidate_incident_id("m1")
    assert decisions[1].incident_id == first.incident_id
    assert reopened.incident_id not in (first.incident_id, candidate_incident_id("m8"))
    assert last.incident_id == candidate_incident_id("m10")
    assert "new incident" in first.line() and "joins incident" in decisions[1].line()


def test_messages_the_fingerprinter_would_dead_letter_are_dropped_with_why() -> None:
    run = DryRun({KEY: ("svc-id", "checkout")}, window_s=60)
    [invalid] = run.feed(stored(1, {"routing_key": KEY, "event_action": "trigger"}, 0))
    assert invalid.decision == DROPPED and "invalid body" in (invalid.reason or "")
    [unknown] = run.feed(stored(2, {**pd("trigger"), "routing_key": "U" * 32}, 0))
    assert unknown.decision == DROPPED and "no service has integration key" in (
        unknown.reason or ""
    )
    change = {"routing_key": KEY, "payload": {"summary": "deploy 42", "source": "ci"}}
    [recorded] = run.feed(stored(3, change, 0, fmt="change"))
    assert recorded.decision == CHANGE and recorded.incident_id is None
    assert json.loads(json.dumps(recorded.to_json()))["decision"] == CHANGE
