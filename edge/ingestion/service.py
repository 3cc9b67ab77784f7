"""Accepting one alert body: validate, find its service, publish, and return after the PubAck.

Shared by the REST routes and the gRPC `AlertIngestion` service. A body is validated here
as well as in the fingerprinter so HTTP senders hear about bad input at once (a 4xx), while
NATS producers' bad bodies go to the DLQ.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from oncallnova.alerts.grafana_signature import DEFAULT_SIGNATURE_HEADER, verify_grafana_signature
from oncallnova.alerts.normalise import integration_key_from
from oncallnova.alerts.validation import InvalidAlert, parse_alert_body
from oncallnova.bus.connection import Outgoing
from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo
from oncallnova.errors import BacklogFull, NotFound, TooManyRequests, Unauthorized, Unavailable
from oncallnova.security.stores import MemoryRateLimiter
from oncallnova.services.keys import ServiceKeys
from schemas.envelope import INTEGRATION_KEY, Envelope
from schemas.subjects import ALERT_RECEIVED
from schemas.wire_v1 import AlertmanagerWebhookV4, GrafanaWebhook, PagerDutyEventV2

SIGNATURE_HEADER = DEFAULT_SIGNATURE_HEADER
# Grafana lets the timestamp header be named; this is the name OnCallNova reads.
TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"
MAX_SIGNATURE_AGE_S = 300
EVENTS_WINDOW_S = 60


class UnknownIntegrationKey(NotFound):
    code = "unknown_integration_key"


@dataclass(frozen=True)
class Accepted:
    message_id: str
    dedup_key: str | None
    alerts: int


def check_grafana_signature(
    secret: str, raw: bytes, headers: Mapping[str, str], now: float | None = None
) -> None:
    """Raise Unauthorized unless the body carries Grafana's HMAC made with `secret`; a signed
    timestamp more than five minutes away is refused as a replay."""
    # Case-insensitive for plain mappings too (gRPC metadata keys are lower case).
    lowered = {name.lower(): value for name, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower())
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    if not verify_grafana_signature(secret, raw, signature, timestamp):
        raise Unauthorized(
            f"{SIGNATURE_HEADER}: missing or not the HMAC-SHA256 of the body with this "
            "service's webhook secret",
            field=SIGNATURE_HEADER,
        )
    if timestamp is not None:
        current = time.time() if now is None else now
        if (
            not (timestamp.isascii() and timestamp.isdigit())
            or abs(current - int(timestamp)) > MAX_SIGNATURE_AGE_S
        ):
            raise Unauthorized(
                f"{TIMESTAMP_HEADER}: more than five minutes away from now", field=TIMESTAMP_HEADER
            )


class Ingestion:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.keys = ServiceKeys(ctx)
        # Counted in this process, without a round trip on the hot path (docs/security.md).
        self.events = MemoryRateLimiter()

    async def _check_grafana_signature(
        self, key: str, raw: bytes, headers: Mapping[str, str]
    ) -> None:
        async with self.ctx.sessions() as session:
            service = await repo.service_by_key(session, key)
        if service is not None and service.webhook_secret:
            check_grafana_signature(service.webhook_secret, raw, headers)

    async def _count_event(self, key: str) -> None:
        """429 (RESOURCE_EXHAUSTED) past EVENTS_RATE_LIMIT events a minute for one key."""
        limit = self.ctx.settings.events_rate_limit
        if limit <= 0:
            return
        count, left = await self.events.add(key, EVENTS_WINDOW_S)
        if count > limit:
            self.ctx.metrics.ingestion_refused.labels("rate_limited").inc()
            raise TooManyRequests(
                f"more than {limit} events a minute for this integration key",
                retry_after=left,
                field="integration_key",
            )

    async def accept(
        self,
        fmt: str,
        raw: bytes,
        integration_key: str | None = None,
        http_headers: Mapping[str, str] | None = None,
    ) -> Accepted:
        """Validate and publish one body; raises InvalidAlert / UnknownIntegrationKey, and
        Unauthorized for a Grafana webhook whose service wants a signature it lacks. The one
        place every ingest path resolves the key and checks signatures (NATS producers'
        bodies are checked by the fingerprinter's key lookup)."""
        body = parse_alert_body(fmt, raw)
        key = integration_key or integration_key_from(fmt, body, {})
        field = "routing_key" if fmt in ("pagerduty", "change") else "integration_key"
        if not key:
            raise InvalidAlert([f"{field}: required"])
        if await self.keys.service_id(key) is None:
            # The key is not echoed: a mistyped secret is still a secret.
            raise UnknownIntegrationKey(
                f"{field}: no service has this integration key", field=field
            )
        await self._count_event(key)
        if fmt == "grafana":
            # Every path (HTTP, gRPC) comes through here: a service with a webhook secret
            # gets no unsigned Grafana body, whichever door it uses.
            await self._check_grafana_signature(key, raw, http_headers or {})
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
        try:
            await self.ctx.bus.publish_or_refuse(
                Outgoing.of(ALERT_RECEIVED, fmt, raw, envelope, headers=headers)
            )
        except BacklogFull:
            self.ctx.metrics.ingestion_refused.labels("backlog_full").inc()
            raise
        except Unavailable:
            self.ctx.metrics.ingestion_refused.labels("broker_unavailable").inc()
            raise
        count = len(body.alerts) if isinstance(body, AlertmanagerWebhookV4 | GrafanaWebhook) else 1
        return Accepted(message_id=envelope.id, dedup_key=dedup_key, alerts=count)
