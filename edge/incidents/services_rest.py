"""REST for services: the things that break, with their integration keys and escalation policy."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Service
from oncallnova.db.repositories import incidents as repo
from oncallnova.errors import NotFound

WEBHOOK_SECRET = Field(
    default=None,
    min_length=8,
    max_length=255,
    description="Write-only. When set, Grafana webhooks must be signed with it (HMAC-SHA256).",
)

# PagerDuty's service timeouts, in seconds (null: off).
ACK_TIMEOUT = Field(
    default=None,
    ge=60,
    le=86400 * 7,
    description="Seconds after which an acknowledged incident triggers again (null: never).",
)
AUTO_RESOLVE_TIMEOUT = Field(
    default=None,
    ge=60,
    le=86400 * 30,
    description="Seconds after which an open incident resolves itself (null: never).",
)


class ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    escalation_policy_id: str | None = Field(default=None, max_length=36)
    webhook_secret: str | None = WEBHOOK_SECRET
    acknowledgement_timeout: int | None = ACK_TIMEOUT
    auto_resolve_timeout: int | None = AUTO_RESOLVE_TIMEOUT


class ServicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    escalation_policy_id: str | None = Field(default=None, max_length=36)
    webhook_secret: str | None = WEBHOOK_SECRET
    acknowledgement_timeout: int | None = ACK_TIMEOUT
    auto_resolve_timeout: int | None = AUTO_RESOLVE_TIMEOUT


class ServiceOut(BaseModel):
    id: str
    name: str
    description: str | None
    integration_key: str
    escalation_policy_id: str | None
    has_webhook_secret: bool
    acknowledgement_timeout: int | None = None
    auto_resolve_timeout: int | None = None
    created_at: datetime

    @classmethod
    def of(cls, service: Service) -> ServiceOut:
        """The service as shown: its webhook secret never leaves the server."""
        return cls(
            id=service.id,
            name=service.name,
            description=service.description,
            integration_key=service.integration_key,
            escalation_policy_id=service.escalation_policy_id,
            has_webhook_secret=service.webhook_secret is not None,
            acknowledgement_timeout=service.acknowledgement_timeout,
            auto_resolve_timeout=service.auto_resolve_timeout,
            created_at=service.created_at,
        )


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(prefix="/api/v1/services", tags=["services"])

    @api.get("", response_model=list[ServiceOut])
    async def list_services() -> list[ServiceOut]:
        async with ctx.sessions() as session:
            return [ServiceOut.of(s) for s in await repo.list_services(session)]

    @api.post("", status_code=201, response_model=ServiceOut)
    async def create_service(body: ServiceIn) -> ServiceOut:
        """Create a service; its 32-character integration key is in the answer."""
        async with ctx.sessions.begin() as session:
            service = await repo.create_service(
                session,
                body.name,
                description=body.description,
                escalation_policy_id=body.escalation_policy_id,
                webhook_secret=body.webhook_secret,
            )
            service.acknowledgement_timeout = body.acknowledgement_timeout
            service.auto_resolve_timeout = body.auto_resolve_timeout
            await session.flush()
            return ServiceOut.of(service)

    @api.get("/{service_id}", response_model=ServiceOut)
    async def get_service(service_id: str) -> ServiceOut:
        async with ctx.sessions() as session:
            service = (
                await repo.service_by_id(session, service_id) if len(service_id) <= 36 else None
            )
            if service is None:
                raise NotFound(f"no service {service_id!r}", field="service_id")
            return ServiceOut.of(service)

    @api.patch("/{service_id}", response_model=ServiceOut)
    async def update_service(service_id: str, body: ServicePatch) -> ServiceOut:
        """Change name, description or escalation policy (`null` policy detaches it)."""
        async with ctx.sessions.begin() as session:
            service = await repo.update_service(
                session, service_id[:36], **body.model_dump(exclude_unset=True)
            )
            return ServiceOut.of(service)

    return api
