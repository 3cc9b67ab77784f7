"""Webhooker: delivers one PagerDuty v3 event to one subscriber, signed, with retries.

Consumes: `webhook.delivery_requested.v1.*` (durable `webhooker`).
Emits:    an HTTP POST `{"event": …}` with `X-PagerDuty-Signature` and the Standard Webhooks
          headers; every attempt is a row in `webhook_attempts`.
Retries:  timeouts, connection errors, 408, 429 and 5xx are retried through JetStream (nak with
          an exponential delay plus jitter) up to `WEBHOOK_MAX_ATTEMPTS`; other 4xx and
          redirects (never followed) are not. `WEBHOOK_PAUSE_AFTER` failed attempts in a row
          pause the subscription.
SSRF:     the URL's host is resolved once and every address checked (`oncallnova/paging/ssrf.py`);
          the connection goes to the checked address, with Host and SNI set to the name.
Idempotency: the event id is fixed upstream; an event already delivered to the subscription
          is not sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time

import httpx
from nats.aio.msg import Msg

from oncallnova.bus.runtime import Delivery, UnitOfWork, Worker, parse
from oncallnova.context import AppContext
from oncallnova.db.models.paging import WebhookAttempt, WebhookSubscription
from oncallnova.db.repositories import paging as repo
from oncallnova.paging import signing, ssrf
from schemas.envelope import Envelope
from schemas.paging_v1 import WebhookDeliveryRequestedV1

log = logging.getLogger(__name__)

USER_AGENT = "OnCallNova-Webhook/1"


def backoff_with_jitter(attempt: int, base: float, rng: random.Random) -> float:
    """Delay after failed attempt `attempt`: base·2^(n-1), capped at 1 h, jittered ±50 %."""
    delay = min(3600.0, base * 2 ** max(0, attempt - 1))
    return delay * rng.uniform(0.5, 1.5)


def classify(status: int | None) -> str:
    """`delivered`, `retrying` or `failed` for an HTTP status (None: no answer)."""
    if status is None or status in (408, 429) or status >= 500:
        return "retrying"
    if 200 <= status < 300:
        return "delivered"
    return "failed"  # other 4xx, and 1xx/3xx: redirects are not followed


def body_of(request: WebhookDeliveryRequestedV1) -> bytes:
    """The exact bytes sent (and signed): the same on every attempt."""
    return json.dumps(
        {"event": request.event.model_dump(mode="json")}, separators=(",", ":"), sort_keys=True
    ).encode()


class WebhookerWorker(Worker[WebhookDeliveryRequestedV1]):
    consumer = "webhooker"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.allow = ssrf.AllowList.parse(ctx.settings.webhook_allowed_hosts)
        self.own = ssrf.own_addresses()
        self.rng = random.Random()
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=self.ctx.settings.webhook_timeout,
            trust_env=False,  # a proxy would resolve the name again, after our check
            headers={"User-Agent": USER_AGENT},
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> WebhookDeliveryRequestedV1:
        return parse(WebhookDeliveryRequestedV1, msg)

    async def handle(
        self, batch: list[Delivery[WebhookDeliveryRequestedV1]], uow: UnitOfWork
    ) -> None:
        # One subscription at a time in this batch (its failure count is shared); different
        # subscriptions in parallel.
        by_subscription: dict[str, list[Delivery[WebhookDeliveryRequestedV1]]] = {}
        for delivery in batch:
            by_subscription.setdefault(delivery.data.subscription_id, []).append(delivery)
        subscriptions = {
            sid: await uow.session.get(WebhookSubscription, sid) for sid in by_subscription
        }
        already = {
            (d.data.subscription_id, d.data.event.id)
            for d in batch
            if await repo.delivered(uow.session, d.data.subscription_id, d.data.event.id)
        }

        async def run(sid: str, deliveries: list[Delivery[WebhookDeliveryRequestedV1]]) -> None:
            subscription = subscriptions[sid]
            for delivery in deliveries:
                if subscription is None or (sid, delivery.data.event.id) in already:
                    continue  # deleted, or delivered before this redelivery
                await self._deliver(subscription, delivery, uow)

        await asyncio.gather(*(run(s, d) for s, d in by_subscription.items()))

    async def _deliver(
        self,
        subscription: WebhookSubscription,
        delivery: Delivery[WebhookDeliveryRequestedV1],
        uow: UnitOfWork,
    ) -> None:
        settings = self.ctx.settings
        request = delivery.data
        attempt = delivery.num_delivered
        if not subscription.active:
            self._log(
                uow, subscription, request, attempt, "skipped", None, "subscription paused", 0
            )
            return
        body = body_of(request)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            target = await ssrf.resolve_checked(
                subscription.url, self.allow, field="delivery_method.url", own=self.own
            )
        except ssrf.Refused as refused:
            self._log(uow, subscription, request, attempt, "refused", None, refused.message, 0)
            self._failed(subscription, f"refused: {refused.message}")
            return
        headers = {
            "Content-Type": "application/json",
            "Host": target.host_header,
            **signing.headers(subscription.secret, request.event.id, int(time.time()), body),
        }
        for extra in subscription.custom_headers or []:
            headers.setdefault(str(extra.get("name")), str(extra.get("value")))
        assert self.client is not None
        try:
            response = await self.client.post(
                target.connect_url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
            )
            status = response.status_code
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:1000] or type(failure).__name__
        elapsed = int((time.monotonic() - started) * 1000)
        outcome = classify(status)
        if outcome == "retrying" and attempt >= settings.webhook_max_attempts:
            outcome = "failed"
        if outcome != "delivered" and error is None:
            error = f"HTTP {status}" + (
                " (redirects are not followed)" if status and 300 <= status < 400 else ""
            )
        self._log(uow, subscription, request, attempt, outcome, status, error, elapsed)
        if outcome == "delivered":
            subscription.consecutive_failures = 0
            return
        self._failed(subscription, error or "failed")
        if outcome == "retrying" and subscription.active:
            uow.retry_later(
                delivery, backoff_with_jitter(attempt, settings.webhook_retry_base, self.rng)
            )

    def _failed(self, subscription: WebhookSubscription, reason: str) -> None:
        subscription.consecutive_failures += 1
        if subscription.active and subscription.consecutive_failures >= (
            self.ctx.settings.webhook_pause_after
        ):
            subscription.active = False
            subscription.paused_reason = (
                f"paused after {subscription.consecutive_failures} failed attempts in a row; "
                f"last: {reason}"
            )[:1000]
            log.warning("webhook subscription %s paused: %s", subscription.id, reason)

    def _log(
        self,
        uow: UnitOfWork,
        subscription: WebhookSubscription,
        request: WebhookDeliveryRequestedV1,
        attempt: int,
        outcome: str,
        status: int | None,
        error: str | None,
        elapsed_ms: int,
    ) -> None:
        uow.session.add(
            WebhookAttempt(
                subscription_id=subscription.id,
                event_id=request.event.id,
                incident_id=request.event.data.get("id"),
                attempt=attempt,
                outcome=outcome,
                status_code=status,
                error=error,
                duration_ms=elapsed_ms,
                at=self.ctx.clock(),
            )
        )
