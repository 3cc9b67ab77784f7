"""Wire body -> canonical alerts: the one place each format's meaning is decided. Pure.

Rules (the why is in REFERENCE.md):
- PagerDuty trigger/acknowledge/resolve -> one alert with that action. A trigger without a
  dedup_key takes `received_id` (the edge usually fills one in first and returns it in the 202).
  Acknowledge/resolve carry no payload, so their summary says what they do.
- PagerDuty change event -> one alert with action "change", severity info, keyed on
  `received_id` (change events are never deduplicated).
- Alertmanager/Grafana -> one alert per element of `alerts[]`, `alert_id` `<received_id>:<i>`;
  firing -> trigger, resolved -> resolve; dedup key per `fingerprint.alertmanager_dedup_key`.
  Summary: annotations.summary, else annotations.description, else "<alertname> on
  <instance>"; severity from labels.severity (`severity_from_label`).
- Generic -> one alert with its own action; no dedup_key -> `fingerprint.auto_dedup_key`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from oncallnova.alerts.fingerprint import (
    alert_fingerprint,
    alertmanager_dedup_key,
    auto_dedup_key,
    prometheus_labels_fingerprint,
)
from schemas.alert_v1 import CanonicalAlertV1, Image, Link, Severity, SourceFormat
from schemas.envelope import INTEGRATION_KEY
from schemas.wire_v1 import (
    AlertmanagerAlert,
    AlertmanagerWebhookV4,
    GenericAlert,
    GrafanaAlert,
    GrafanaWebhook,
    PagerDutyChangeEventV2,
    PagerDutyEventV2,
    PagerDutyLink,
    WireBody,
)

MAX_SUMMARY_CHARS = 1024

# labels.severity is free text in Prometheus rules; these are the spellings seen in the wild
# (kube-prometheus, Grafana, PagerDuty-style P1..P5). Anything else, or none, is "error",
# PagerDuty's and Alertmanager's own default severity.
_SEVERITY_BY_LABEL: dict[str, Severity] = {
    **dict.fromkeys(
        ("critical", "crit", "page", "fatal", "emergency", "emerg", "alert", "disaster", "p1"),
        "critical",
    ),
    **dict.fromkeys(("error", "err", "high", "major", "p2"), "error"),
    **dict.fromkeys(("warning", "warn", "medium", "minor", "average", "p3"), "warning"),
    **dict.fromkeys(
        ("info", "informational", "information", "notice", "none", "low", "debug", "ok")
        + ("p4", "p5"),
        "info",
    ),
}


def severity_from_label(value: str | None) -> Severity:
    """Map a free-text `severity` label onto critical/error/warning/info (default error)."""
    if value is None:
        return "error"
    return _SEVERITY_BY_LABEL.get(value.strip().lower(), "error")


def integration_key_from(fmt: str, body: WireBody, headers: Mapping[str, str]) -> str | None:
    """The integration key: PagerDuty's `routing_key`, else the `Integration-Key` header."""
    if fmt in ("pagerduty", "change") and isinstance(
        body, PagerDutyEventV2 | PagerDutyChangeEventV2
    ):
        return body.routing_key
    # HTTP headers are case-insensitive; a plain dict of NATS headers is not, so look by hand.
    wanted = INTEGRATION_KEY.lower()
    for name, value in headers.items():
        if name.lower() == wanted:
            return value.strip() or None
    return None


def normalise(
    fmt: str,
    body: WireBody,
    *,
    service_id: str,
    received_id: str,
    received_at: datetime,
) -> list[CanonicalAlertV1]:
    """Turn one validated wire body into the canonical alerts it carries (in body order)."""
    received_at = _aware(received_at)
    if fmt == "pagerduty" and isinstance(body, PagerDutyEventV2):
        return [_from_pagerduty(body, service_id, received_id, received_at)]
    if fmt == "change" and isinstance(body, PagerDutyChangeEventV2):
        return [_from_change(body, service_id, received_id, received_at)]
    if fmt == "alertmanager" and isinstance(body, AlertmanagerWebhookV4):
        return _from_alert_group(body, "alertmanager", service_id, received_id, received_at)
    if fmt == "grafana" and isinstance(body, GrafanaWebhook):
        return _from_alert_group(body, "grafana", service_id, received_id, received_at)
    if fmt == "generic" and isinstance(body, GenericAlert):
        return [_from_generic(body, service_id, received_id, received_at)]
    raise ValueError(f"a {type(body).__name__} body is not format {fmt!r}")


def _aware(moment: datetime) -> datetime:
    # Senders may omit the offset; every timestamp we emit is UTC-aware.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _links(links: list[PagerDutyLink]) -> list[Link]:
    return [Link(href=link.href, text=link.text) for link in links]


def _canonical(
    *, service_id: str, dedup_key: str, class_: str | None = None, **fields: Any
) -> CanonicalAlertV1:
    return CanonicalAlertV1.model_validate(
        {
            "service_id": service_id,
            "dedup_key": dedup_key,
            "fingerprint": alert_fingerprint(service_id, dedup_key),
            "class": class_,
            **fields,
        }
    )


def _from_pagerduty(
    event: PagerDutyEventV2, service_id: str, received_id: str, received_at: datetime
) -> CanonicalAlertV1:
    dedup_key = event.dedup_key or received_id
    common: dict[str, Any] = {
        "alert_id": received_id,
        "action": event.event_action,
        "source_format": "pagerduty",
        "client": event.client,
        "client_url": event.client_url,
        "links": _links(event.links),
        "images": [Image(src=i.src, href=i.href, alt=i.alt) for i in event.images],
    }
    payload = event.payload
    if payload is None:  # acknowledge / resolve
        return _canonical(
            service_id=service_id,
            dedup_key=dedup_key,
            summary=f"{event.event_action.capitalize()} event for {dedup_key}",
            occurred_at=received_at,
            **common,
        )
    return _canonical(
        service_id=service_id,
        dedup_key=dedup_key,
        summary=payload.summary,
        severity=payload.severity,
        source=payload.source,
        component=payload.component,
        group=payload.group,
        class_=payload.class_,
        occurred_at=_aware(payload.timestamp) if payload.timestamp else received_at,
        details=payload.custom_details or {},
        **common,
    )


def _from_change(
    event: PagerDutyChangeEventV2, service_id: str, received_id: str, received_at: datetime
) -> CanonicalAlertV1:
    payload = event.payload
    return _canonical(
        service_id=service_id,
        # Change events are never deduplicated: each one is its own timeline entry.
        dedup_key=received_id,
        alert_id=received_id,
        action="change",
        source_format="change",
        summary=payload.summary,
        severity="info",
        source=payload.source,
        occurred_at=_aware(payload.timestamp) if payload.timestamp else received_at,
        details=payload.custom_details or {},
        links=_links(event.links),
    )


def _from_generic(
    alert: GenericAlert, service_id: str, received_id: str, received_at: datetime
) -> CanonicalAlertV1:
    return _canonical(
        service_id=service_id,
        dedup_key=alert.dedup_key or auto_dedup_key(alert.source, alert.summary),
        alert_id=received_id,
        action=alert.action,
        source_format="generic",
        summary=alert.summary,
        severity=alert.severity,
        source=alert.source,
        occurred_at=received_at,
        details=alert.details or {},
    )


def _from_alert_group(
    group: AlertmanagerWebhookV4 | GrafanaWebhook,
    fmt: SourceFormat,
    service_id: str,
    received_id: str,
    received_at: datetime,
) -> list[CanonicalAlertV1]:
    group_details: dict[str, Any] = {
        "receiver": group.receiver,
        "groupKey": group.group_key,
        "externalURL": group.external_url,
    }
    if isinstance(group, GrafanaWebhook):
        group_details["orgId"] = group.org_id
    return [
        _from_group_member(
            alert,
            fmt=fmt,
            service_id=service_id,
            alert_id=f"{received_id}:{index}",
            received_at=received_at,
            client_url=group.external_url or None,
            group_details=group_details,
        )
        for index, alert in enumerate(group.alerts)
    ]


def _from_group_member(
    alert: AlertmanagerAlert,
    *,
    fmt: SourceFormat,
    service_id: str,
    alert_id: str,
    received_at: datetime,
    client_url: str | None,
    group_details: dict[str, Any],
) -> CanonicalAlertV1:
    sender_fingerprint = alert.fingerprint or prometheus_labels_fingerprint(alert.labels)
    labels, annotations = alert.labels, alert.annotations
    ends_at = _aware(alert.ends_at) if alert.ends_at else None
    details: dict[str, Any] = {
        "labels": dict(labels),
        "annotations": dict(annotations),
        "fingerprint": sender_fingerprint,
        "startsAt": _aware(alert.starts_at).isoformat(),
        "endsAt": ends_at.isoformat() if ends_at else None,
        "generatorURL": alert.generator_url,
        **group_details,
    }
    images: list[Image] = []
    if isinstance(alert, GrafanaAlert):
        details["values"] = alert.values
        details["valueString"] = alert.value_string
        if alert.image_url:
            images.append(Image(src=alert.image_url))
    resolved = alert.status == "resolved"
    return _canonical(
        service_id=service_id,
        dedup_key=alertmanager_dedup_key(sender_fingerprint, alert.starts_at),
        alert_id=alert_id,
        action="resolve" if resolved else "trigger",
        source_format=fmt,
        summary=_truncate(_group_member_summary(labels, annotations, sender_fingerprint)),
        severity=severity_from_label(labels.get("severity")),
        source=labels.get("instance") or labels.get("job") or None,
        occurred_at=(ends_at or received_at) if resolved else _aware(alert.starts_at),
        details=details,
        links=_group_member_links(alert),
        images=images,
        client="Grafana" if fmt == "grafana" else "Alertmanager",
        client_url=client_url,
    )


def _group_member_summary(
    labels: Mapping[str, str], annotations: Mapping[str, str], sender_fingerprint: str
) -> str:
    for key in ("summary", "description"):
        if annotations.get(key, "").strip():
            return annotations[key].strip()
    name = labels.get("alertname") or f"Alert {sender_fingerprint}"
    instance = labels.get("instance")
    return f"{name} on {instance}" if instance else name


def _group_member_links(alert: AlertmanagerAlert) -> list[Link]:
    candidates: list[tuple[str | None, str]] = [
        (alert.generator_url, "Source"),
        (alert.annotations.get("runbook_url"), "Runbook"),
    ]
    if isinstance(alert, GrafanaAlert):
        candidates += [
            (alert.dashboard_url, "Dashboard"),
            (alert.panel_url, "Panel"),
            (alert.silence_url, "Silence"),
        ]
    # Senders send "" for a URL they do not have.
    return [Link(href=href, text=text) for href, text in candidates if href]


def _truncate(text: str) -> str:
    if len(text) <= MAX_SUMMARY_CHARS:
        return text
    return text[: MAX_SUMMARY_CHARS - 1] + "…"
