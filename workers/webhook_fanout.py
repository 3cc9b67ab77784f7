"""Webhook fan-out: turns each incident fact into one delivery per matching subscription.

Consumes: `incident.<event>.v1.*` (durable `webhook_fanout`).
Emits:    `webhook.delivery_requested.v1.<subscription_id>` with the PagerDuty v3 event.
Idempotency: the event id is derived from the fact's message id, and each delivery's message
          id is `<subscription>:<event id>`, so a redelivered fact is dropped by JetStream's
          duplicate window and, after it, by the webhooker's record of delivered events.
"""

from __future__ import annotations

from nats.aio.msg import Msg

from oncallnova.bus.connection import Outgoing
from oncallnova.bus.runtime import Delivery, UnitOfWork, Worker, parse
from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Service
from oncallnova.db.models.paging import WebhookSubscription
from oncallnova.db.repositories import paging as repo
from oncallnova.paging.webhook_events import (
    agent_of,
    event_id,
    incident_data,
    webhook_event_type,
)
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentEventV1
from schemas.paging_v1 import WebhookDeliveryRequestedV1, WebhookEventV1
from schemas.subjects import WEBHOOK_DELIVERY_REQUESTED


def matches(subscription: WebhookSubscription, event_type: str, service_id: str) -> bool:
    """Whether a subscription wants this event for this service."""
    if event_type not in subscription.events:
        return False
    if subscription.filter_type == "service_reference":
        return subscription.filter_id == service_id
    # Teams own escalation policies, not services here: a team filter is checked by the caller.
    return subscription.filter_type in ("account_reference", "team_reference")


class WebhookFanoutWorker(Worker[IncidentEventV1]):
    consumer = "webhook_fanout"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> IncidentEventV1:
        return parse(IncidentEventV1, msg)

    async def handle(self, batch: list[Delivery[IncidentEventV1]], uow: UnitOfWork) -> None:
        subscriptions = await repo.active_subscriptions(uow.session)
        if not subscriptions:
            return
        for delivery in batch:
            fact = delivery.data
            event_type = webhook_event_type(fact)
            if event_type is None:
                continue
            service_id = fact.incident.service_id
            wanted = [s for s in subscriptions if matches(s, event_type, service_id)]
            if not wanted:
                continue
            service = await uow.session.get(Service, service_id)
            team = await self._team_of(uow, service)
            wanted = [s for s in wanted if s.filter_type != "team_reference" or s.filter_id == team]
            event = WebhookEventV1(
                id=event_id(delivery.envelope.id),
                event_type=event_type,  # type: ignore[arg-type]
                occurred_at=fact.incident.updated_at,
                agent=agent_of(fact.actor),
                data=incident_data(
                    fact,
                    self.ctx.settings.public_url,
                    service.name if service else None,
                    service.escalation_policy_id if service else None,
                ),
            )
            for subscription in wanted:
                envelope = delivery.envelope.caused(
                    WEBHOOK_DELIVERY_REQUESTED.type(),
                    "webhook_fanout",
                    id=f"{subscription.id}:{event.id}",
                )
                body = WebhookDeliveryRequestedV1(subscription_id=subscription.id, event=event)
                uow.publish(
                    Outgoing.of(WEBHOOK_DELIVERY_REQUESTED, subscription.id, body, envelope)
                )

    async def _team_of(self, uow: UnitOfWork, service: Service | None) -> str | None:
        """The team owning the service's escalation policy (PagerDuty's team of a service)."""
        if service is None or service.escalation_policy_id is None:
            return None
        from oncallnova.db.models.oncall import EscalationPolicy

        policy = await uow.session.get(EscalationPolicy, service.escalation_policy_id)
        return policy.team_id if policy else None
