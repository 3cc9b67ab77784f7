"""Pure paging decisions: escalation steps, notification rules and keys, action tokens,
webhook signatures, SSRF address checks, retry classification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncallnova.oncall.escalation import (
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    TargetKind,
)
from oncallnova.paging import signing, ssrf, tokens
from oncallnova.paging.steps import (
    Rule,
    default_rules,
    next_step_due,
    notification_key,
    rules_for,
    step_of,
    total_steps,
)
from workers.webhooker import backoff_with_jitter, classify

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def policy(delays: list[int], loops: int) -> EscalationPolicy:
    target = (EscalationTarget(TargetKind.USER, "u"),)
    return EscalationPolicy("p", tuple(EscalationLevel(target, d) for d in delays), loops)


@pytest.mark.parametrize(
    ("delays", "loops", "step", "expected"),
    [
        ([30, 15], 0, 0, (1, 0, 30, False)),
        ([30, 15], 0, 1, (2, 0, 15, True)),
        ([30, 15], 0, 2, None),
        ([30, 15], 1, 2, (1, 1, 30, False)),
        ([30, 15], 1, 3, (2, 1, 15, True)),
        ([10], 2, 2, (1, 2, 10, True)),
        ([10], 2, -1, None),
    ],
)
def test_steps_walk_levels_then_loop(delays, loops, step, expected) -> None:
    found = step_of(policy(delays, loops), step)
    got = None if found is None else (found.level, found.loop, found.delay_minutes, found.is_last)
    assert got == expected


def test_the_next_step_is_due_after_the_level_delay_and_never_after_the_last() -> None:
    p = policy([30, 15], 0)
    assert total_steps(p) == 2
    assert next_step_due(step_of(p, 0), NOW) == NOW + timedelta(minutes=30)  # type: ignore[arg-type]
    assert next_step_due(step_of(p, 1), NOW) is None  # type: ignore[arg-type]


def test_rules_by_urgency_and_keys_name_every_part() -> None:
    rules = [
        Rule("r2", "email", "b@x", 5, "high"),
        Rule("r1", "email", "a@x", 0, "high"),
        Rule("r3", "email", "a@x", 0, "low"),
        Rule("r4", "sms", "+1", 0, "high"),
    ]
    assert [r.id for r in rules_for(rules, "high")] == ["r1", "r2"]
    key = notification_key("inc", "e0.s1", "user", rules[1])
    assert key == "n:1:inc:e0.s1:user:r1:email"


def test_default_rules_cover_each_email_once_for_both_urgencies() -> None:
    assert default_rules(["a@x", "A@x", "b@x"]) == [
        ("email", "a@x", 0, "high"),
        ("email", "a@x", 0, "low"),
        ("email", "b@x", 0, "high"),
        ("email", "b@x", 0, "low"),
    ]


def test_action_tokens_bind_incident_action_and_24_hours() -> None:
    key = b"k" * 32
    token = tokens.sign(key, "inc-1", "acknowledge", NOW, "user-1")
    parsed = tokens.verify(key, token, "inc-1", "acknowledge", NOW + timedelta(hours=23))
    assert parsed.user_id == "user-1"
    refusals = [
        (key, token, "inc-2", "acknowledge", NOW, "another incident"),
        (key, token, "inc-1", "resolve", NOW, "another action"),
        (key, token, "inc-1", "acknowledge", NOW + timedelta(hours=24), "expired"),
        (b"other", token, "inc-1", "acknowledge", NOW, "not valid"),
        (key, token + "x", "inc-1", "acknowledge", NOW, "not valid"),
        (key, "garbage", "inc-1", "acknowledge", NOW, "not valid"),
    ]
    for k, t, incident, action, at, why in refusals:
        with pytest.raises(tokens.Forbidden, match=why):
            tokens.verify(k, t, incident, action, at)


def test_signatures_follow_pagerduty_and_standard_webhooks() -> None:
    body, secret = b'{"event":{}}', "s3cret"
    headers = signing.headers(secret, "evt-1", 1700000000, body)
    assert headers["X-PagerDuty-Signature"] == (
        "v1=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    )
    mac = hmac.new(b"s3cret", b"evt-1.1700000000." + body, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    assert headers["webhook-id"] == "evt-1" and headers["webhook-timestamp"] == "1700000000"
    # The spec's whsec_ form is base64 key material.
    raw = b"0123456789abcdef"
    whsec = "whsec_" + base64.b64encode(raw).decode()
    expected = hmac.new(raw, b"i.1." + body, hashlib.sha256).digest()
    assert (
        signing.standard_signature(whsec, "i", 1, body)
        == "v1," + base64.b64encode(expected).decode()
    )


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "172.16.3.4", "192.168.1.1",
     "100.64.0.1", "0.0.0.0", "224.0.0.1", "::ffff:127.0.0.1", "fe80::1", "fc00::1"],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert ssrf.forbidden_reason(ipaddress.ip_address(address)) is not None


def test_public_addresses_pass_unless_they_are_our_own() -> None:
    public = ipaddress.ip_address("93.184.216.34")
    assert ssrf.forbidden_reason(public) is None
    assert "own" in (ssrf.forbidden_reason(public, [public]) or "")


def test_the_allow_list_takes_hosts_and_cidrs() -> None:
    allow = ssrf.AllowList.parse("hooks.internal., 10.1.0.0/16, ::1")
    assert allow.allows("HOOKS.internal", ipaddress.ip_address("10.9.9.9"))
    assert allow.allows("x", ipaddress.ip_address("10.1.2.3"))
    assert allow.allows("x", ipaddress.ip_address("::1"))
    assert not allow.allows("x", ipaddress.ip_address("10.2.0.1"))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "delivered"), (204, "delivered"), (301, "failed"), (400, "failed"),
     (404, "failed"), (408, "retrying"), (429, "retrying"), (500, "retrying"),
     (503, "retrying"), (None, "retrying")],
)  # fmt: skip
def test_which_answers_are_retried(status: int | None, outcome: str) -> None:
    assert classify(status) == outcome


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempt, base in ((1, 5.0), (2, 10.0), (3, 20.0)):
        delay = backoff_with_jitter(attempt, 5.0, rng)
        assert base * 0.5 <= delay <= base * 1.5
    assert backoff_with_jitter(30, 5.0, rng) <= 3600 * 1.5


def _incident(status: str = "triggered", epoch: int = 2) -> Any:
    from oncallnova.incidents.rules import IncidentState

    return IncidentState(
        id="i", number=1, title="t", status=status, severity="critical", urgency="high",
        service_id="s", dedup_key="d", fingerprint="fp", alert_count=1, assignee_id=None,
        escalation_level=0, created_at=NOW, updated_at=NOW, escalation_epoch=epoch,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "action", "fence", "event", "epoch"),
    [
        ("triggered", "escalate", 2, "escalated", 3),  # the timer's epoch still holds
        ("triggered", "escalate", 1, None, 2),  # stale: acknowledged/escalated since
        ("acknowledged", "escalate", 1, None, 2),  # a step after an acknowledge does nothing
        ("acknowledged", "escalate", 2, "escalated", 3),  # acknowledgement timeout re-triggers
        ("triggered", "escalate", None, "escalated", 3),  # a person's escalate always applies
        ("triggered", "acknowledge", None, "acknowledged", 3),
        ("acknowledged", "resolve", None, "resolved", 3),
        ("triggered", "add_note", None, "note_added", 2),  # notes do not end a wait
    ],
)
def test_the_escalation_epoch_fences_timer_commands(status, action, fence, event, epoch) -> None:
    from oncallnova.incidents.rules import decide
    from schemas.incident_v1 import IncidentCommandV1

    command = IncidentCommandV1(
        action=action, incident_id="i", escalation_level=1, escalation_epoch=fence, note="n"
    )
    outcome = decide(_incident(status), command, source_id="src", now=NOW)
    assert [f.event for f in outcome.facts] == ([event] if event else [])
    assert outcome.incident is not None and outcome.incident.escalation_epoch == epoch
