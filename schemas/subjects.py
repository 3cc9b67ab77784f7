"""The subject catalogue: the only place subject strings are written.

Grammar `<domain>.<event>.v<major>[.<key>]`. Producers and consumers import these topics;
`nats/*.json` refers to them by name. A namespace (tests, shared servers) prefixes every
subject as `<ns>.<subject>`.

A partitioned topic is published as usual; its stream's subject transform stores each message
as `<subject>.<partition>`, the partition being a hash of the key (`partition(n, key)`), so one
key always lands in one partition and a consumer per partition sees that key's messages in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas.alert_v1 import CanonicalAlertV1
from schemas.incident_v1 import INCIDENT_EVENT_TYPES, IncidentCommandV1, IncidentEventV1
from schemas.paging_v1 import NotificationRequestedV1, WebhookDeliveryRequestedV1
from schemas.roster_v1 import RosterBeatV1

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
    #: partitions the stream maps this topic's keys to (0: not partitioned)
    partitions: int = 0

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

    def partition_transform(self, ns: str = "") -> tuple[str, str]:
        """(source, destination) of the stream's subject transform that appends the partition."""
        if not self.partitions or self.events:
            raise ValueError(f"{self.name} is not partitioned")
        source = self.wildcard(ns)
        token = source.count("*")  # the key is the topic's only wildcard
        wildcard = f"{{{{wildcard({token})}}}}"
        partition = f"{{{{partition({self.partitions},{token})}}}}"
        return source, namespaced(ns, self.template.format(key=wildcard)) + "." + partition

    def partition_filter(self, partition: int, ns: str = "") -> str:
        """The stored subjects of one partition (a consumer's filter)."""
        if not 0 <= partition < self.partitions:
            raise ValueError(f"{self.name}: no partition {partition}")
        return f"{self.wildcard(ns)}.{partition}"

    def stored_wildcard(self, ns: str = "") -> str:
        """Every subject of this topic as its stream stores it."""
        return f"{self.wildcard(ns)}.*" if self.partitions else self.wildcard(ns)

    def published(self, stored: str) -> str:
        """The subject a message was published on, from the one its stream stored it under."""
        return stored.rsplit(".", 1)[0] if self.partitions else stored


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
    # By service: a fingerprint belongs to one service, so per-fingerprint order holds.
    partitions=8,
)
INCIDENT_COMMAND = Topic(
    "INCIDENT_COMMAND",
    "incident.command.v1.{key}",
    IncidentCommandV1,
    "A request to change an incident; key = incident id.",
    partitions=8,
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
WORKER_ROSTER = Topic(
    "WORKER_ROSTER",
    "worker.roster.v1.{key}",
    RosterBeatV1,
    "Copies of a partitioned worker announcing themselves (core NATS, no stream); key = consumer.",
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
        WORKER_ROSTER,
    )
}
