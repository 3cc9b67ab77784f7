"""Raw bodies in, wire models or field-naming errors out (oncallnova.alerts.validation)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oncallnova.alerts.validation import (
    MAX_BODY_BYTES,
    AlertBodyTooLarge,
    InvalidAlert,
    pagerduty_error_body,
    parse_alert_body,
)
from oncallnova.errors import InvalidInput
from schemas.wire_v1 import (
    WIRE_MODELS,
    AlertmanagerWebhookV4,
    GrafanaWebhook,
    PagerDutyEventV2,
)

ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"


def _errors(fmt: str, body: Any) -> list[str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(InvalidAlert) as caught:
        parse_alert_body(fmt, raw)
    return caught.value.errors


def _trigger(**payload: Any) -> dict[str, Any]:
    base = {"summary": "disk full", "source": "db-01", "severity": "critical"}
    return {"routing_key": ROUTING_KEY, "event_action": "trigger", "payload": {**base, **payload}}


def _am(alert: dict[str, Any]) -> dict[str, Any]:
    base = {"status": "firing", "labels": {}, "startsAt": "2024-05-14T08:58:43.613Z"}
    return {"version": "4", "status": "firing", "alerts": [{**base, **alert}]}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("pagerduty_trigger.json", "pagerduty"),
        ("pagerduty_acknowledge.json", "pagerduty"),
        ("pagerduty_resolve.json", "pagerduty"),
        ("pagerduty_trigger_from_alertmanager.json", "pagerduty"),
        ("pagerduty_resolve_from_alertmanager.json", "pagerduty"),
        ("change_event.json", "change"),
        ("alertmanager_mixed_group.json", "alertmanager"),
        ("alertmanager_legacy.json", "alertmanager"),
        ("grafana_mixed.json", "grafana"),
        ("generic_trigger.json", "generic"),
    ],
)
def test_every_real_sender_body_is_accepted(wire_bytes, name: str, fmt: str) -> None:
    assert isinstance(parse_alert_body(fmt, wire_bytes(name)), WIRE_MODELS[fmt])


BAD_BODIES: list[tuple[str, Any, str]] = [
    # Not JSON at all.
    ("pagerduty", b"{not json", "body: not valid JSON"),
    ("pagerduty", b"", "body: not valid JSON"),
    ("generic", b"\xff\xfe\x00{", "body: not valid JSON"),
    ("generic", b'{"summary": NaN}', "body: not valid JSON"),
    ("pagerduty", b"[1, 2]", "body: must be a JSON object"),
    ("alertmanager", b'"firing"', "body: must be a JSON object"),
    # PagerDuty events.
    ("pagerduty", {**_trigger(), "routing_key": "short"}, "routing_key: must be 32 characters"),
    ("pagerduty", {**_trigger(), "routing_key": ROUTING_KEY + "x"}, "routing_key: must be 32"),
    (
        "pagerduty",
        {"event_action": "trigger", "payload": _trigger()["payload"]},
        "routing_key: required",
    ),
    ("pagerduty", {**_trigger(), "routing_key": 12345}, "routing_key: must be a string"),
    (
        "pagerduty",
        {**_trigger(), "event_action": "fire"},
        "event_action: must be one of trigger, acknowledge, resolve",
    ),
    ("pagerduty", {"routing_key": ROUTING_KEY, "payload": {}}, "event_action: required"),
    (
        "pagerduty",
        {"routing_key": ROUTING_KEY, "event_action": "trigger"},
        "payload: required for trigger",
    ),
    ("pagerduty", {**_trigger(), "payload": "disk full"}, "payload: must be an object"),
    (
        "pagerduty",
        _trigger(severity="high"),
        "payload.severity: must be one of critical, error, warning, info",
    ),
    ("pagerduty", _trigger(severity=None), "payload.severity: must be one of"),
    (
        "pagerduty",
        {**_trigger(), "payload": {"source": "x", "severity": "info"}},
        "payload.summary: required",
    ),
    ("pagerduty", _trigger(summary=""), "payload.summary: must not be empty"),
    ("pagerduty", _trigger(summary="x" * 1025), "payload.summary: must be at most 1024 characters"),
    (
        "pagerduty",
        {**_trigger(), "payload": {"summary": "x", "severity": "info"}},
        "payload.source: required",
    ),
    (
        "pagerduty",
        _trigger(timestamp="yesterday"),
        "payload.timestamp: must be an ISO 8601 timestamp",
    ),
    (
        "pagerduty",
        _trigger(custom_details="free text"),
        "payload.custom_details: must be an object",
    ),
    ("pagerduty", _trigger(component=7), "payload.component: must be a string"),
    (
        "pagerduty",
        {**_trigger(), "dedup_key": "k" * 256},
        "dedup_key: must be at most 255 characters",
    ),
    (
        "pagerduty",
        {"routing_key": ROUTING_KEY, "event_action": "acknowledge"},
        "dedup_key: required for acknowledge and resolve",
    ),
    (
        "pagerduty",
        {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": ""},
        "dedup_key: required for acknowledge and resolve",
    ),
    ("pagerduty", {**_trigger(), "links": [{"text": "runbook"}]}, "links[0].href: required"),
    ("pagerduty", {**_trigger(), "links": {"href": "x"}}, "links: must be an array"),
    (
        "pagerduty",
        {**_trigger(), "images": [{"src": "a.png"}, {"alt": "b"}]},
        "images[1].src: required",
    ),
    ("pagerduty", {**_trigger(), "client_url": ["x"]}, "client_url: must be a string"),
    # Change events.
    ("change", {"routing_key": ROUTING_KEY}, "payload: required"),
    (
        "change",
        {"routing_key": ROUTING_KEY, "payload": {"source": "ci"}},
        "payload.summary: required",
    ),
    (
        "change",
        {"routing_key": "k", "payload": {"summary": "deploy"}},
        "routing_key: must be 32 characters",
    ),
    (
        "change",
        {"routing_key": ROUTING_KEY, "payload": {"summary": "deploy", "timestamp": "soon"}},
        "payload.timestamp: must be an ISO 8601 timestamp",
    ),
    # Alertmanager.
    ("alertmanager", {"version": "4", "status": "firing"}, "alerts: required"),
    ("alertmanager", {**_am({}), "status": "pending"}, "status: must be one of firing, resolved"),
    (
        "alertmanager",
        _am({"status": "pending"}),
        "alerts[0].status: must be one of firing, resolved",
    ),
    ("alertmanager", _am({"startsAt": None}), "alerts[0].startsAt: must be an ISO 8601 timestamp"),
    ("alertmanager", _am({"startsAt": "last tuesday"}), "alerts[0].startsAt: must be an ISO 8601"),
    (
        "alertmanager",
        _am({"labels": {"severity": 3}}),
        "alerts[0].labels.severity: must be a string",
    ),
    ("alertmanager", _am({"annotations": ["summary"]}), "alerts[0].annotations: must be an object"),
    ("alertmanager", {**_am({}), "truncatedAlerts": "none"}, "truncatedAlerts: must be an integer"),
    ("alertmanager", _am({"fingerprint": "f" * 129}), "alerts[0].fingerprint: must be at most 128"),
    # Grafana.
    ("grafana", {**_am({}), "orgId": "one"}, "orgId: must be an integer"),
    ("grafana", _am({"values": [1, 2]}), "alerts[0].values: must be an object"),
    ("grafana", _am({"dashboardURL": 1}), "alerts[0].dashboardURL: must be a string"),
    # Generic.
    ("generic", {"severity": "info"}, "summary: required"),
    ("generic", {"summary": ""}, "summary: must not be empty"),
    ("generic", {"summary": "x", "severity": "sev1"}, "severity: must be one of critical, error"),
    ("generic", {"summary": "x", "action": "close"}, "action: must be one of trigger, acknowledge"),
    ("generic", {"summary": "x", "details": "text"}, "details: must be an object"),
    ("generic", {"summary": "x", "dedup_key": "k" * 256}, "dedup_key: must be at most 255"),
    # Unknown format.
    ("nagios", {"summary": "x"}, "format: must be one of pagerduty, change, alertmanager"),
]


@pytest.mark.parametrize(("fmt", "body", "expected"), BAD_BODIES)
def test_a_bad_body_is_refused_with_an_error_naming_the_field(
    fmt: str, body: Any, expected: str
) -> None:
    errors = _errors(fmt, body)
    assert any(error.startswith(expected) for error in errors), errors


def test_every_bad_field_is_reported_at_once() -> None:
    body = {"routing_key": "short", "event_action": "trigger", "links": [{}]}
    assert _errors("pagerduty", body) == [
        "routing_key: must be 32 characters",
        "payload: required for trigger",
        "links[0].href: required",
    ]


def test_a_body_over_512_kb_is_refused_before_parsing() -> None:
    raw = b'{"summary": "' + b"x" * MAX_BODY_BYTES + b'"}'
    with pytest.raises(AlertBodyTooLarge) as caught:
        parse_alert_body("generic", raw)
    assert caught.value.errors == [f"body: must be at most {MAX_BODY_BYTES} bytes"]
    assert caught.value.status_code == 413


def test_a_body_of_exactly_512_kb_is_accepted() -> None:
    head = b'{"summary": "big", "details": {"blob": "'
    tail = b'"}}'
    raw = head + b"x" * (MAX_BODY_BYTES - len(head) - len(tail)) + tail
    assert len(raw) == MAX_BODY_BYTES
    assert parse_alert_body("generic", raw).summary == "big"  # type: ignore[union-attr]


def test_fields_a_sender_adds_are_ignored() -> None:
    body = _trigger(internal_ref="abc")
    body["x_sender_version"] = "9.9"
    body["links"] = [{"href": "https://x", "text": "t", "rel": "runbook"}]
    event = parse_alert_body("pagerduty", json.dumps(body).encode())
    assert isinstance(event, PagerDutyEventV2)
    assert event.links[0].href == "https://x"


def test_resolve_payload_is_ignored_even_when_it_would_not_validate(wire_bytes) -> None:
    # Alertmanager always sends a payload, and a templated severity can render empty.
    event = parse_alert_body("pagerduty", wire_bytes("pagerduty_resolve_from_alertmanager.json"))
    assert isinstance(event, PagerDutyEventV2)
    assert event.event_action == "resolve"
    assert event.payload is None


def test_an_empty_dedup_key_on_a_trigger_means_none() -> None:
    event = parse_alert_body("pagerduty", json.dumps({**_trigger(), "dedup_key": ""}).encode())
    assert isinstance(event, PagerDutyEventV2)
    assert event.dedup_key is None


def test_pagerduty_timestamp_with_colonless_offset_is_accepted() -> None:
    # PagerDuty's own documentation example uses "+0000".
    raw = json.dumps(_trigger(timestamp="2015-07-17T08:42:58.315+0000")).encode()
    event = parse_alert_body("pagerduty", raw)
    assert isinstance(event, PagerDutyEventV2) and event.payload is not None
    assert event.payload.timestamp is not None
    assert event.payload.timestamp.utcoffset() is not None


def test_alertmanager_go_zero_end_time_means_still_firing(wire_bytes) -> None:
    group = parse_alert_body("alertmanager", wire_bytes("alertmanager_mixed_group.json"))
    assert isinstance(group, AlertmanagerWebhookV4)
    assert [a.ends_at is None for a in group.alerts] == [True, True, False]


def test_old_alertmanager_without_fingerprint_or_truncation_is_accepted(wire_bytes) -> None:
    group = parse_alert_body("alertmanager", wire_bytes("alertmanager_legacy.json"))
    assert isinstance(group, AlertmanagerWebhookV4)
    assert group.truncated_alerts == 0
    assert group.alerts[0].fingerprint is None


def test_grafana_body_keeps_its_extras(wire_bytes) -> None:
    body = parse_alert_body("grafana", wire_bytes("grafana_mixed.json"))
    assert isinstance(body, GrafanaWebhook)
    assert body.org_id == 1 and body.state == "alerting"
    assert body.alerts[0].values == {"B": 92.23943737541908, "C": 1}
    assert body.alerts[1].values is None


def test_invalid_alert_is_a_400_input_error_naming_its_first_field() -> None:
    error = InvalidAlert(["payload.severity: must be one of critical", "links[0].href: required"])
    assert isinstance(error, InvalidInput)
    assert error.status_code == 400
    assert error.field == "payload.severity"
    assert error.to_dict()["error"]["errors"] == error.errors  # type: ignore[index]


def test_pagerduty_error_body_is_pagerdutys_own_shape() -> None:
    assert pagerduty_error_body(["routing_key: must be 32 characters"]) == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["routing_key: must be 32 characters"],
    }


@pytest.mark.parametrize("fmt", sorted(WIRE_MODELS))
def test_every_wire_model_exports_a_json_schema_with_wire_names(fmt: str) -> None:
    schema = WIRE_MODELS[fmt].model_json_schema()
    text = json.dumps(schema)
    assert schema["type"] == "object"
    # Producers in other languages must see the names on the wire, not our Python names.
    assert "starts_at" not in text and "generator_url" not in text and "class_" not in text
