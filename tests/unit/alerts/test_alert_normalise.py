"""Wire bodies become canonical alerts (oncallnova.alerts.normalise)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncallnova.alerts.fingerprint import (
    alert_fingerprint,
    auto_dedup_key,
    prometheus_labels_fingerprint,
)
from oncallnova.alerts.normalise import integration_key_from, normalise, severity_from_label
from oncallnova.alerts.validation import parse_alert_body
from schemas.alert_v1 import CanonicalAlertV1, Image

SERVICE = "svc_checkout"
RECEIVED_AT = datetime(2024, 5, 14, 9, 15, 0, tzinfo=UTC)
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"


def _normalise(
    fmt: str, body: dict[str, Any] | bytes, received_id: str = "rcv_1"
) -> list[CanonicalAlertV1]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return normalise(
        fmt,
        parse_alert_body(fmt, raw),
        service_id=SERVICE,
        received_id=received_id,
        received_at=RECEIVED_AT,
    )


# --- PagerDuty ---------------------------------------------------------------------------


def test_pdpyras_trigger_becomes_one_alert_with_every_field(wire_bytes) -> None:
    [alert] = _normalise("pagerduty", wire_bytes("pagerduty_trigger.json"))
    assert alert.action == "trigger"
    assert alert.alert_id == "rcv_1"
    assert alert.dedup_key == "db-01/disk/var"
    assert alert.fingerprint == alert_fingerprint(SERVICE, "db-01/disk/var")
    assert alert.summary == "Disk /var is 97% full on db-01"
    assert alert.severity == "critical"
    assert (alert.source, alert.component, alert.group, alert.class_) == (
        "db-01.prod.example.com",
        "postgresql",
        "prod-datastores",
        "disk",
    )
    assert alert.occurred_at == datetime(2024, 5, 14, 9, 12, 33, 512000, tzinfo=UTC)
    assert alert.details["used_percent"] == 97.2
    assert alert.links[0].text == "Host dashboard"
    assert alert.source_format == "pagerduty"


def test_pdpyras_acknowledge_and_resolve_hit_the_trigger_fingerprint(wire_bytes) -> None:
    [trigger] = _normalise("pagerduty", wire_bytes("pagerduty_trigger.json"))
    [ack] = _normalise("pagerduty", wire_bytes("pagerduty_acknowledge.json"), "rcv_2")
    [resolve] = _normalise("pagerduty", wire_bytes("pagerduty_resolve.json"), "rcv_3")
    assert (ack.action, resolve.action) == ("acknowledge", "resolve")
    assert ack.fingerprint == resolve.fingerprint == trigger.fingerprint
    assert resolve.summary == "Resolve event for db-01/disk/var"
    assert resolve.occurred_at == RECEIVED_AT


def test_alertmanager_pagerduty_resolve_matches_its_trigger(wire_bytes) -> None:
    [trigger] = _normalise("pagerduty", wire_bytes("pagerduty_trigger_from_alertmanager.json"))
    [resolve] = _normalise("pagerduty", wire_bytes("pagerduty_resolve_from_alertmanager.json"))
    assert trigger.fingerprint == resolve.fingerprint
    assert trigger.client == "Alertmanager"
    assert trigger.details["num_firing"] == "1"
    assert trigger.occurred_at == RECEIVED_AT  # no payload.timestamp


def test_trigger_without_dedup_key_is_keyed_on_its_received_id(wire_json) -> None:
    body = wire_json("pagerduty_trigger.json")
    del body["dedup_key"]
    [first] = _normalise("pagerduty", body, "rcv_a")
    [second] = _normalise("pagerduty", body, "rcv_b")
    assert first.dedup_key == "rcv_a"
    # Like PagerDuty: without a key, every trigger is a new alert.
    assert first.fingerprint != second.fingerprint


def test_same_dedup_key_on_another_service_is_another_alert(wire_bytes) -> None:
    body = parse_alert_body("pagerduty", wire_bytes("pagerduty_trigger.json"))
    [here] = normalise("pagerduty", body, service_id="a", received_id="r", received_at=RECEIVED_AT)
    [there] = normalise("pagerduty", body, service_id="b", received_id="r", received_at=RECEIVED_AT)
    assert here.fingerprint != there.fingerprint


def test_change_event_is_a_change_that_is_never_deduplicated(wire_bytes) -> None:
    [first] = _normalise("change", wire_bytes("change_event.json"), "rcv_a")
    [again] = _normalise("change", wire_bytes("change_event.json"), "rcv_b")
    assert first.action == "change" and first.source_format == "change"
    assert first.summary == "Deploy checkout v2024.05.14-3 to prod"
    assert first.source == "github-actions"
    assert first.occurred_at == datetime(2024, 5, 14, 9, 0, 2, 481516, tzinfo=UTC)
    assert first.links[0].text == "Workflow run"
    assert first.fingerprint != again.fingerprint


# --- Alertmanager ------------------------------------------------------------------------


def test_alertmanager_group_becomes_one_alert_per_member(wire_bytes) -> None:
    alerts = _normalise("alertmanager", wire_bytes("alertmanager_mixed_group.json"))
    assert [a.alert_id for a in alerts] == ["rcv_1:0", "rcv_1:1", "rcv_1:2"]
    assert [a.action for a in alerts] == ["trigger", "trigger", "resolve"]
    assert [a.severity for a in alerts] == ["warning"] * 3
    assert len({a.fingerprint for a in alerts}) == 3
    first, second, resolved = alerts
    assert first.summary == "Pod is crash looping."
    # No summary annotation: the description stands in.
    assert second.summary.startswith("Pod checkout/checkout-worker-5c8d9b6f4-7kzp2 (worker)")
    assert first.occurred_at == datetime(2024, 5, 14, 8, 58, 43, 613000, tzinfo=UTC)
    assert resolved.occurred_at == datetime(2024, 5, 14, 9, 4, 28, 613000, tzinfo=UTC)
    assert first.source == "10.2.3.4:8080"
    assert first.client == "Alertmanager"
    assert first.client_url == "http://alertmanager.example.com:9093"
    assert [link.text for link in first.links] == ["Source", "Runbook"]
    assert [link.text for link in second.links] == ["Source"]
    assert first.details["labels"]["pod"] == "checkout-api-6d9f7c5b8-x2lq4"
    assert first.details["endsAt"] is None
    assert first.details["groupKey"].startswith("{}/{severity")


def test_alertmanager_dedup_key_is_sender_fingerprint_and_start(wire_json) -> None:
    body = wire_json("alertmanager_mixed_group.json")
    [first, *_] = _normalise("alertmanager", body)
    sent_fingerprint = body["alerts"][0]["fingerprint"]
    assert first.dedup_key == f"{sent_fingerprint}:2024-05-14T08:58:43.613000Z"
    assert first.fingerprint == alert_fingerprint(SERVICE, first.dedup_key)


def test_a_resent_group_produces_the_same_fingerprints(wire_bytes) -> None:
    raw = wire_bytes("alertmanager_mixed_group.json")
    first = _normalise("alertmanager", raw, "rcv_a")
    resent = _normalise("alertmanager", raw, "rcv_b")
    assert [a.fingerprint for a in first] == [a.fingerprint for a in resent]
    assert [a.alert_id for a in first] != [a.alert_id for a in resent]


def test_resolved_message_matches_its_firing_one_and_a_new_episode_does_not(wire_json) -> None:
    body = wire_json("alertmanager_mixed_group.json")
    resolved = body["alerts"][2]
    firing = {**resolved, "status": "firing", "endsAt": "0001-01-01T00:00:00Z"}
    later = {**firing, "startsAt": "2024-05-14T10:30:58.613Z"}
    fingerprints = [
        _normalise("alertmanager", {**body, "alerts": [member]})[0].fingerprint
        for member in (firing, resolved, later)
    ]
    assert fingerprints[0] == fingerprints[1]
    assert fingerprints[2] != fingerprints[0]


def test_alertmanager_without_fingerprint_derives_the_one_alertmanager_would_send(
    wire_bytes, wire_json
) -> None:
    [alert] = _normalise("alertmanager", wire_bytes("alertmanager_legacy.json"))
    labels = wire_json("alertmanager_legacy.json")["alerts"][0]["labels"]
    assert alert.details["fingerprint"] == prometheus_labels_fingerprint(labels)
    assert alert.dedup_key.startswith(
        prometheus_labels_fingerprint(labels) + ":2019-03-02T17:20:05"
    )
    assert alert.summary == "InstanceDown on node-7.example.com:9100"
    assert alert.severity == "critical"  # severity="page"


def test_sent_and_derived_alertmanager_fingerprints_agree(wire_json) -> None:
    body = wire_json("alertmanager_mixed_group.json")
    with_sent = _normalise("alertmanager", body)
    for member in body["alerts"]:
        del member["fingerprint"]
    derived = _normalise("alertmanager", body)
    assert [a.fingerprint for a in with_sent] == [a.fingerprint for a in derived]


@pytest.mark.parametrize(
    ("labels", "annotations", "summary"),
    [
        (
            {"alertname": "Down", "instance": "h:9100"},
            {"summary": " Host down ", "description": "d"},
            "Host down",
        ),
        ({"alertname": "Down"}, {"summary": "", "description": "Host gone"}, "Host gone"),
        ({"alertname": "Down", "instance": "h:9100"}, {}, "Down on h:9100"),
        ({"alertname": "Down"}, {}, "Down"),
        ({}, {}, "Alert " + prometheus_labels_fingerprint({})),
    ],
)
def test_alertmanager_summary_falls_back_in_order(
    labels: dict[str, str], annotations: dict[str, str], summary: str
) -> None:
    body = {
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2024-05-14T08:58:43Z",
            }
        ],
    }
    assert _normalise("alertmanager", body)[0].summary == summary


def test_an_overlong_alertmanager_summary_is_truncated_to_fit() -> None:
    body = {
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "annotations": {"summary": "y" * 5000},
                "startsAt": "2024-05-14T08:58:43Z",
            }
        ],
    }
    [alert] = _normalise("alertmanager", body)
    assert len(alert.summary) == 1024
    assert alert.summary.endswith("…")


# --- Grafana -----------------------------------------------------------------------------


def test_grafana_notification_becomes_one_alert_per_member(wire_bytes) -> None:
    firing, resolved = _normalise("grafana", wire_bytes("grafana_mixed.json"))
    assert (firing.action, resolved.action) == ("trigger", "resolve")
    assert (firing.alert_id, resolved.alert_id) == ("rcv_1:0", "rcv_1:1")
    assert firing.source_format == "grafana" and firing.client == "Grafana"
    assert firing.severity == "critical"
    assert resolved.severity == "error"  # no severity label
    assert firing.summary == "Memory above 90% in zone us-1"
    assert resolved.summary == "The system has high CPU usage"
    assert firing.dedup_key == "c6eadffa33fcdf37:2024-05-14T09:51:03.157076Z"
    assert [link.text for link in firing.links] == [
        "Source",
        "Runbook",
        "Dashboard",
        "Panel",
        "Silence",
    ]
    # Grafana sends "" for URLs it does not have.
    assert [link.text for link in resolved.links] == ["Source", "Runbook", "Silence"]
    assert firing.images == [
        Image(src="https://grafana.example.com/public/img/attachments/Xc9aPq4t.png")
    ]
    assert resolved.images == []
    assert firing.details["values"] == {"B": 92.23943737541908, "C": 1}
    assert firing.details["orgId"] == 1
    assert resolved.occurred_at == datetime(2024, 5, 14, 9, 56, 3, 157076, tzinfo=UTC)


# --- Generic -----------------------------------------------------------------------------


def test_generic_alert_without_key_is_keyed_on_source_and_summary(wire_json) -> None:
    body = wire_json("generic_trigger.json")
    [first] = _normalise("generic", body, "rcv_a")
    [again] = _normalise("generic", {**body, "details": {"exit_code": 3}}, "rcv_b")
    [other] = _normalise("generic", {**body, "summary": "Nightly backup of users-db failed"})
    assert first.dedup_key == auto_dedup_key(
        "backup-cron@ops-01", "Nightly backup of billing-db failed"
    )
    assert first.fingerprint == again.fingerprint  # details change between runs; same problem
    assert first.fingerprint != other.fingerprint
    assert (first.action, first.severity, first.source_format) == ("trigger", "warning", "generic")
    assert first.details["exit_code"] == 2


def test_generic_resolve_with_the_same_summary_closes_the_alert(wire_json) -> None:
    body = wire_json("generic_trigger.json")
    [trigger] = _normalise("generic", body)
    [resolve] = _normalise("generic", {**body, "action": "resolve"})
    assert resolve.action == "resolve"
    assert resolve.fingerprint == trigger.fingerprint


def test_generic_alert_with_a_key_uses_it() -> None:
    [alert] = _normalise("generic", {"summary": "x", "dedup_key": "cron/backup"})
    assert alert.dedup_key == "cron/backup"
    assert alert.severity == "error"
    assert alert.details == {}


# --- Cross-cutting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", "critical"),
        ("Critical", "critical"),
        ("page", "critical"),
        ("P1", "critical"),
        ("error", "error"),
        ("high", "error"),
        ("major", "error"),
        ("warning", "warning"),
        (" Warning ", "warning"),
        ("warn", "warning"),
        ("medium", "warning"),
        ("info", "info"),
        ("none", "info"),
        ("low", "info"),
        ("p4", "info"),
        ("bananas", "error"),
        ("", "error"),
        (None, "error"),
    ],
)
def test_severity_label_maps_onto_four_values(label: str | None, severity: str) -> None:
    assert severity_from_label(label) == severity


@pytest.mark.parametrize(
    "name",
    [
        "pagerduty_trigger.json",
        "pagerduty_resolve.json",
        "change_event.json",
        "alertmanager_mixed_group.json",
        "alertmanager_legacy.json",
        "grafana_mixed.json",
        "generic_trigger.json",
    ],
)
def test_every_canonical_alert_survives_the_bus_round_trip(wire_bytes, name: str) -> None:
    fmt = name.split("_")[0]
    for alert in _normalise(fmt, wire_bytes(name)):
        assert CanonicalAlertV1.model_validate_json(alert.model_dump_json(by_alias=True)) == alert
        assert alert.occurred_at.tzinfo is not None


def test_naive_received_at_is_read_as_utc(wire_bytes) -> None:
    body = parse_alert_body("pagerduty", wire_bytes("pagerduty_resolve.json"))
    naive = datetime(2024, 5, 14, 9, 15, 0)
    [alert] = normalise("pagerduty", body, service_id=SERVICE, received_id="r", received_at=naive)
    assert alert.occurred_at == RECEIVED_AT
    assert alert.occurred_at.utcoffset() == timedelta(0)


def test_a_body_of_another_format_is_refused(wire_bytes) -> None:
    body = parse_alert_body("generic", wire_bytes("generic_trigger.json"))
    with pytest.raises(ValueError, match="not format 'pagerduty'"):
        normalise("pagerduty", body, service_id=SERVICE, received_id="r", received_at=RECEIVED_AT)


@pytest.mark.parametrize(
    ("fmt", "name", "headers", "expected"),
    [
        ("pagerduty", "pagerduty_trigger.json", {}, ROUTING_KEY),
        # The body's routing_key names the integration even if a header says otherwise.
        ("pagerduty", "pagerduty_trigger.json", {"Integration-Key": "other"}, ROUTING_KEY),
        ("change", "change_event.json", {}, ROUTING_KEY),
        ("alertmanager", "alertmanager_mixed_group.json", {"Integration-Key": "k-am"}, "k-am"),
        ("grafana", "grafana_mixed.json", {"integration-key": " k-gr "}, "k-gr"),
        ("generic", "generic_trigger.json", {"INTEGRATION-KEY": "k-gen"}, "k-gen"),
        ("generic", "generic_trigger.json", {"Nats-Msg-Id": "m1"}, None),
        ("generic", "generic_trigger.json", {"Integration-Key": ""}, None),
    ],
)
def test_integration_key_comes_from_routing_key_else_header(
    wire_bytes, fmt: str, name: str, headers: dict[str, str], expected: str | None
) -> None:
    body = parse_alert_body(fmt, wire_bytes(name))
    assert integration_key_from(fmt, body, headers) == expected
