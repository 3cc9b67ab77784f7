"""The subject catalogue: the only place subject strings are written.

Grammar `<domain>.<event>.v<major>[.<key>]`. Producers and consumers import these topics;
`nats/*.json` refers to them by name. A namespace (tests, shared servers) prefixes every
subject as `<ns>.<subject>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas.alert_v1 import CanonicalAlertV1
from schemas.incident_v1 import INCIDENT_EVENT_TYPES, IncidentCommandV1, IncidentEventV1
from schemas.paging_v1 import NotificationRequestedV1, WebhookDeliveryRequestedV1

ALERT_FORMATS: tuple[str, ...] = ("pagerduty", "alertmanager", "grafana", "generic", "change")


def namespaced(ns: str, subject: str) -> str:
    return f"{ns}.{subject}" if ns else subject


@dataclass(frozen=True)
class Topic:
    """One family of subjects: `template` has `{key}` and, for incident events, `{event}`."""

    name: str
    template: str
    model: type[BaseModel] | None
    description: str
    events: tuple[str, ...] = ()

    def subject(self, key: str, *, ns: str = "", event: str | None = None) -> str:
        """The concrete subject for one key (and event type, for incident events)."""
        if "." in key or "*" in key or ">" in key or not key:
            raise ValueError(f"subject key must be one non-empty token, got {key!r}")
        if self.events:
            if event not in self.events:
                raise ValueError(f"{self.name}: unknown event {event!r}")
            return namespaced(ns, self.template.format(event=event, key=key))
        return namespaced(ns, self.template.format(key=key))

    def type(self, event: str | None = None) -> str:
        """The envelope type of messages on this topic: the subject without key or namespace."""
        if self.events:
            if event not in self.events:
                raise ValueError(f"{self.name}: unknown event {event!r}")
            return self.template.format(event=event, key="").rstrip(".")
        return self.template.format(key="").rstrip(".")

    def wildcard(self, ns: str = "") -> str:
        """The filter matching every subject of this topic (for incident events it also matches
        commands: subscribe to `stream_subjects` instead outside the INCIDENT_EVENTS stream)."""
        return namespaced(ns, self.template.format(event="*", key="*"))

    def stream_subjects(self, ns: str = "") -> list[str]:
        """Subjects a stream binds; incident events are listed one by one so commands stay out."""
        if self.events:
            return [namespaced(ns, self.template.format(event=e, key="*")) for e in self.events]
        return [self.wildcard(ns)]


ALERT_RECEIVED = Topic(
    "ALERT_RECEIVED",
    "alert.received.v1.{key}",
    None,  # the raw body of each format: schemas/wire_v1.py
    "A producer's raw body, exactly as the HTTP endpoint takes it; key = format.",
)
ALERT_FINGERPRINTED = Topic(
    "ALERT_FINGERPRINTED",
    "alert.fingerprinted.v1.{key}",
    CanonicalAlertV1,
    "Canonical alert with its versioned fingerprint; key = service id.",
)
INCIDENT_COMMAND = Topic(
    "INCIDENT_COMMAND",
    "incident.command.v1.{key}",
    IncidentCommandV1,
    "A request to change an incident; key = incident id.",
)
INCIDENT_EVENT = Topic(
    "INCIDENT_EVENT",
    "incident.{event}.v1.{key}",
    IncidentEventV1,
    "A fact about an incident; key = incident id.",
    events=INCIDENT_EVENT_TYPES,
)
NOTIFICATION_REQUESTED = Topic(
    "NOTIFICATION_REQUESTED",
    "notification.requested.v1.{key}",
    NotificationRequestedV1,
    "Who to notify, by which channel; key = channel.",
)
WEBHOOK_DELIVERY_REQUESTED = Topic(
    "WEBHOOK_DELIVERY_REQUESTED",
    "webhook.delivery_requested.v1.{key}",
    WebhookDeliveryRequestedV1,
    "One outgoing webhook delivery; key = subscription id.",
)
DLQ = Topic(
    "DLQ",
    "dlq.{key}",
    None,
    "Messages that failed validation or ran out of deliveries; key = consumer.",
)

CATALOGUE: dict[str, Topic] = {
    t.name: t
    for t in (
        ALERT_RECEIVED,
        ALERT_FINGERPRINTED,
        INCIDENT_COMMAND,
        INCIDENT_EVENT,
        NOTIFICATION_REQUESTED,
        WEBHOOK_DELIVERY_REQUESTED,
        DLQ,
    )
}
