"""REST for outgoing webhook subscriptions, shaped as PagerDuty's v3 API
(`/api/v1/webhook_subscriptions`): the secret is shown once, in the creation's answer."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Service
from oncallnova.db.models.oncall import Team
from oncallnova.db.models.paging import WebhookSubscription
from oncallnova.db.repositories import paging as repo
from oncallnova.db.types import new_id, utcnow
from oncallnova.errors import InvalidInput
from oncallnova.paging import ssrf
from oncallnova.paging.webhook_events import SUBSCRIBABLE

PREFIX = "webhook_subscription"
URL_FIELD = f"{PREFIX}.delivery_method.url"


class CustomHeader(BaseModel):
    name: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    value: str = Field(max_length=4096)


class DeliveryMethodIn(BaseModel):
    type: Literal["http_delivery_method"] = "http_delivery_method"
    url: str = Field(min_length=1, max_length=2048)
    custom_headers: list[CustomHeader] = Field(default_factory=list, max_length=10)


class FilterIn(BaseModel):
    type: Literal["account_reference", "service_reference", "team_reference"]
    id: str | None = Field(default=None, max_length=64)


def _check_events(events: list[str] | None) -> list[str] | None:
    if events is None:
        return None
    unknown = [e for e in events if e not in SUBSCRIBABLE]
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {', '.join(SUBSCRIBABLE)}")
    return list(dict.fromkeys(events))


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["webhook_subscription"] = "webhook_subscription"
    delivery_method: DeliveryMethodIn
    events: list[str] = Field(min_length=1, max_length=len(SUBSCRIBABLE))
    filter: FilterIn
    description: str | None = Field(default=None, max_length=1024)
    active: bool = True

    _events = field_validator("events")(_check_events)


class DeliveryMethodPatch(BaseModel):
    type: Literal["http_delivery_method"] = "http_delivery_method"
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    custom_headers: list[CustomHeader] | None = Field(default=None, max_length=10)


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["webhook_subscription"] = "webhook_subscription"
    delivery_method: DeliveryMethodPatch | None = None
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(SUBSCRIBABLE))
    filter: FilterIn | None = None
    description: str | None = Field(default=None, max_length=1024)
    active: bool | None = None

    _events = field_validator("events")(_check_events)


class CreateBody(BaseModel):
    webhook_subscription: SubscriptionIn


class UpdateBody(BaseModel):
    webhook_subscription: SubscriptionPatch


def shown(sub: WebhookSubscription, *, with_secret: bool = False) -> dict[str, Any]:
    """The subscription as PagerDuty shows it; the secret only right after creation."""
    return {
        "id": sub.id,
        "type": "webhook_subscription",
        "active": sub.active,
        "description": sub.description,
        "events": list(sub.events),
        "filter": {"type": sub.filter_type, "id": sub.filter_id},
        "delivery_method": {
            "id": sub.id,
            "type": "http_delivery_method",
            "url": sub.url,
            "secret": sub.secret if with_secret else None,
            "temporarily_disabled": not sub.active and sub.paused_reason is not None,
            "custom_headers": list(sub.custom_headers or []),
        },
        "paused_reason": sub.paused_reason,
        "consecutive_failures": sub.consecutive_failures,
        "created_at": sub.created_at,
        "updated_at": sub.updated_at,
    }


class AttemptOut(BaseModel):
    event_id: str
    incident_id: str | None
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(prefix="/api/v1/webhook_subscriptions", tags=["webhooks"])
    allow = ssrf.AllowList.parse(ctx.settings.webhook_allowed_hosts)
    own = ssrf.own_addresses()

    async def check_url(url: str) -> str:
        await ssrf.resolve_checked(url, allow, field=URL_FIELD, own=own)
        return url.strip()

    async def check_filter(session: Any, flt: FilterIn) -> None:
        field = f"{PREFIX}.filter.id"
        if flt.type == "account_reference":
            return
        if not flt.id:
            raise InvalidInput(f"a {flt.type} filter needs an id", field=field)
        model = Service if flt.type == "service_reference" else Team
        if await session.get(model, flt.id) is None:
            kind = "service" if model is Service else "team"
            raise InvalidInput(f"no {kind} {flt.id!r}", field=field)

    @api.post("", status_code=201)
    async def create(body: CreateBody) -> dict[str, Any]:
        """Subscribe a URL to incident events; the answer carries the signing secret, once."""
        spec = body.webhook_subscription
        url = await check_url(spec.delivery_method.url)
        async with ctx.sessions.begin() as session:
            await check_filter(session, spec.filter)
            now = utcnow()
            sub = WebhookSubscription(
                id=new_id(),
                description=spec.description,
                url=url,
                secret=secrets.token_urlsafe(32),
                events=spec.events,
                filter_type=spec.filter.type,
                filter_id=None if spec.filter.type == "account_reference" else spec.filter.id,
                custom_headers=[h.model_dump() for h in spec.delivery_method.custom_headers],
                active=spec.active,
                consecutive_failures=0,
                created_at=now,
                updated_at=now,
            )
            session.add(sub)
            await session.flush()
            return {PREFIX: shown(sub, with_secret=True)}

    @api.get("")
    async def list_all() -> dict[str, Any]:
        async with ctx.sessions() as session:
            subs = await repo.list_subscriptions(session)
        return {"webhook_subscriptions": [shown(s) for s in subs], "total": len(subs)}

    @api.get("/{subscription_id}")
    async def get(subscription_id: str) -> dict[str, Any]:
        async with ctx.sessions() as session:
            return {PREFIX: shown(await repo.get_subscription(session, subscription_id))}

    @api.put("/{subscription_id}")
    async def update(subscription_id: str, body: UpdateBody) -> dict[str, Any]:
        """Change events, filter, description, URL, headers or `active` (only what is given)."""
        patch = body.webhook_subscription
        method = patch.delivery_method
        url = await check_url(method.url) if method and method.url else None
        async with ctx.sessions.begin() as session:
            sub = await repo.get_subscription(session, subscription_id)
            if patch.filter is not None:
                await check_filter(session, patch.filter)
                sub.filter_type = patch.filter.type
                sub.filter_id = (
                    None if patch.filter.type == "account_reference" else patch.filter.id
                )
            if patch.events is not None:
                sub.events = patch.events
            if "description" in patch.model_fields_set:
                sub.description = patch.description
            if url is not None:
                sub.url = url
            if method and method.custom_headers is not None:
                sub.custom_headers = [h.model_dump() for h in method.custom_headers]
            if patch.active is not None:
                set_active(sub, patch.active)
            sub.updated_at = utcnow()
            await session.flush()
            return {PREFIX: shown(sub)}

    def set_active(sub: WebhookSubscription, active: bool) -> None:
        sub.active = active
        if active:
            sub.paused_reason, sub.consecutive_failures = None, 0

    @api.post("/{subscription_id}/enable")
    async def enable(subscription_id: str) -> dict[str, Any]:
        """Resume a paused subscription (PagerDuty's enable); its failure count starts over."""
        async with ctx.sessions.begin() as session:
            sub = await repo.get_subscription(session, subscription_id)
            set_active(sub, True)
            sub.updated_at = utcnow()
            return {PREFIX: shown(sub)}

    @api.post("/{subscription_id}/pause")
    async def pause(subscription_id: str) -> dict[str, Any]:
        async with ctx.sessions.begin() as session:
            sub = await repo.get_subscription(session, subscription_id)
            set_active(sub, False)
            sub.updated_at = utcnow()
            return {PREFIX: shown(sub)}

    @api.delete("/{subscription_id}", status_code=204)
    async def delete(subscription_id: str) -> None:
        async with ctx.sessions.begin() as session:
            await session.delete(await repo.get_subscription(session, subscription_id))

    @api.get("/{subscription_id}/deliveries", response_model=dict[str, list[AttemptOut]])
    async def deliveries(
        subscription_id: str, limit: int = Query(default=100, ge=1, le=1000)
    ) -> dict[str, list[AttemptOut]]:
        """Every delivery attempt, newest first, with its status code, error and duration."""
        async with ctx.sessions() as session:
            await repo.get_subscription(session, subscription_id)
            rows = await repo.attempts_of(session, subscription_id, limit)
        return {
            "deliveries": [
                AttemptOut(
                    event_id=r.event_id,
                    incident_id=r.incident_id,
                    attempt=r.attempt,
                    outcome=r.outcome,
                    status_code=r.status_code,
                    error=r.error,
                    duration_ms=r.duration_ms,
                    at=r.at,
                )
                for r in rows
            ]
        }

    return api
