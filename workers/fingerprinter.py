"""Fingerprinter: every wire format in, one canonical alert (with `fp:1:` fingerprint) out.

Consumes: `alert.received.v1.<format>` (durable `fingerprinter`) — bodies from the ingestion
          edge or straight from NATS producers (integration key in the body or the
          `Integration-Key` header).
Emits:    `alert.fingerprinted.v1.<service_id>`, one per alert in the body.
Idempotency: output ids derive from the received message id (`Nats-Msg-Id`), so a
          redelivery republishes the same ids and JetStream drops the duplicates.
Invalid bodies and unknown integration keys are dead-lettered: they can never succeed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from nats.aio.msg import Msg

from oncallnova.alerts.normalise import integration_key_from, normalise
from oncallnova.alerts.validation import InvalidAlert, parse_alert_body
from oncallnova.bus.connection import Outgoing
from oncallnova.bus.runtime import Delivery, InvalidMessage, UnitOfWork, Worker
from oncallnova.context import AppContext
from oncallnova.services.keys import ServiceKeys
from schemas.envelope import Envelope
from schemas.subjects import ALERT_FINGERPRINTED, ALERT_FORMATS
from schemas.wire_v1 import WireBody

# Alert ids are stored in a 100-character column; long producer ids are hashed to fit.
MAX_RECEIVED_ID = 64


@dataclass(frozen=True)
class Received:
    fmt: str
    body: WireBody
    integration_key: str


def received_id(envelope: Envelope) -> str:
    if len(envelope.id) <= MAX_RECEIVED_ID:
        return envelope.id
    return hashlib.sha256(envelope.id.encode()).hexdigest()[:40]


class FingerprinterWorker(Worker[Received]):
    consumer = "fingerprinter"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.services = ServiceKeys(ctx)

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> Received:
        fmt = subject.rsplit(".", 1)[-1]
        if fmt not in ALERT_FORMATS:
            raise InvalidMessage(f"format: {fmt!r} is not one of {', '.join(ALERT_FORMATS)}")
        try:
            body = parse_alert_body(fmt, msg.data)
        except InvalidAlert as error:
            raise InvalidMessage(error.message) from error
        key = integration_key_from(fmt, body, dict(msg.headers or {}))
        if not key:
            raise InvalidMessage(
                "integration key: missing (body routing_key or Integration-Key header)"
            )
        return Received(fmt, body, key)

    async def handle(self, batch: list[Delivery[Received]], uow: UnitOfWork) -> None:
        services = await self.services.resolve({d.data.integration_key for d in batch})
        unknown = [d for d in batch if services[d.data.integration_key] is None]
        if unknown and len(batch) > 1:
            # Let the runtime retry one by one: the unknown keys are dead-lettered alone.
            raise InvalidMessage("unknown integration key in batch")
        if unknown:
            # Only the key's first characters: dead-letter reasons are shown and logged.
            shown = unknown[0].data.integration_key[:4] + "..."
            raise InvalidMessage(f"integration key: no service has key {shown!r}")
        for delivery in batch:
            service_id = services[delivery.data.integration_key]
            assert service_id is not None
            for alert in normalise(
                delivery.data.fmt,
                delivery.data.body,
                service_id=service_id,
                received_id=received_id(delivery.envelope),
                received_at=delivery.envelope.occurred_at,
            ):
                envelope = delivery.envelope.caused(
                    ALERT_FINGERPRINTED.type(), "fingerprinter", id=f"fp:{alert.alert_id}"
                )
                uow.publish(Outgoing.of(ALERT_FINGERPRINTED, service_id, alert, envelope))
