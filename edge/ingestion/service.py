"""Accepting one alert body: validate, find its service, publish, and return after the PubAck.

Shared by the REST routes and the gRPC `AlertIngestion` service. A body is validated here
as well as in the fingerprinter so HTTP senders hear about bad input at once (a 4xx), while
NATS producers' bad bodies go to the DLQ.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from oncallnova.alerts.normalise import integration_key_from
from oncallnova.alerts.validation import InvalidAlert, parse_alert_body
from oncallnova.bus.connection import Outgoing
from oncallnova.context import AppContext
from oncallnova.errors import NotFound
from oncallnova.services.keys import ServiceKeys
from schemas.envelope import INTEGRATION_KEY, Envelope
from schemas.subjects import ALERT_RECEIVED
from schemas.wire_v1 import AlertmanagerWebhookV4, GrafanaWebhook, PagerDutyEventV2


class UnknownIntegrationKey(NotFound):
    code = "unknown_integration_key"


@dataclass(frozen=True)
class Accepted:
    message_id: str
    dedup_key: str | None
    alerts: int


class Ingestion:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.keys = ServiceKeys(ctx)

    async def accept(self, fmt: str, raw: bytes, integration_key: str | None = None) -> Accepted:
        """Validate and publish one body; raises InvalidAlert / UnknownIntegrationKey."""
        body = parse_alert_body(fmt, raw)
        key = integration_key or integration_key_from(fmt, body, {})
        field = "routing_key" if fmt in ("pagerduty", "change") else "integration_key"
        if not key:
            raise InvalidAlert([f"{field}: required"])
        if await self.keys.service_id(key) is None:
            raise UnknownIntegrationKey(
                f"{field}: no service has integration key {key!r}", field=field
            )
        envelope = Envelope(type=ALERT_RECEIVED.type(), producer="edge.ingestion")
        dedup_key = None
        if isinstance(body, PagerDutyEventV2):
            dedup_key = body.dedup_key
            if dedup_key is None:
                # PagerDuty generates a key for a trigger without one and returns it.
                dedup_key = uuid.uuid4().hex
                document = json.loads(raw)
                document["dedup_key"] = dedup_key
                raw = json.dumps(document, separators=(",", ":")).encode()
        headers = {INTEGRATION_KEY: key} if integration_key else None
        await self.ctx.bus.publish(
            Outgoing(ALERT_RECEIVED.subject(fmt, ns=self.ctx.bus.ns), raw, envelope, headers)
        )
        count = len(body.alerts) if isinstance(body, AlertmanagerWebhookV4 | GrafanaWebhook) else 1
        return Accepted(message_id=envelope.id, dedup_key=dedup_key, alerts=count)
