"""REST for services: the things that break, with their integration keys and escalation policy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from oncallnova.auth import current_principal
from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Service
from oncallnova.db.repositories import incidents as repo
from oncallnova.db.types import utcnow
from oncallnova.errors import NotFound
from oncallnova.security.principal import Principal

Caller = Annotated[Principal, Depends(current_principal)]

WEBHOOK_SECRET = Field(
    default=None,
    min_length=8,
    max_length=255,
    description="Write-only. When set, Grafana webhooks must be signed with it (HMAC-SHA256).",
)


TEAM_ID = Field(
    default=None,
    max_length=36,
    description="The owning team: its members see the service, its responders act on it.",
)


class ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    escalation_policy_id: str | None = Field(default=None, max_length=36)
    webhook_secret: str | None = WEBHOOK_SECRET
    team_id: str | None = TEAM_ID


class ServicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    escalation_policy_id: str | None = Field(default=None, max_length=36)
    webhook_secret: str | None = WEBHOOK_SECRET
    team_id: str | None = TEAM_ID


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlap_seconds: int = Field(
        default=3600,
        ge=0,
        le=30 * 86400,
        description="How long the old key keeps working beside the new one (0: not at all).",
    )


class ServiceOut(BaseModel):
    id: str
    name: str
    description: str | None
    integration_key: str
    escalation_policy_id: str | None
    has_webhook_secret: bool
    created_at: datetime
    team_id: str | None = None
    previous_key_expires_at: datetime | None = None

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
            created_at=service.created_at,
            team_id=service.team_id,
            previous_key_expires_at=service.previous_key_expires_at
            if service.previous_integration_key
            else None,
        )


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(prefix="/api/v1/services", tags=["services"])

    @api.get("", response_model=list[ServiceOut])
    async def list_services(caller: Caller) -> list[ServiceOut]:
        """The services the caller may see: unowned ones and their teams' (admins: all)."""
        async with ctx.sessions() as session:
            found = await repo.list_services(session, caller.visible_teams())
            return [ServiceOut.of(s) for s in found]

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
                team_id=body.team_id,
            )
            return ServiceOut.of(service)

    @api.get("/{service_id}", response_model=ServiceOut)
    async def get_service(service_id: str, caller: Caller) -> ServiceOut:
        async with ctx.sessions() as session:
            service = (
                await repo.service_by_id(session, service_id) if len(service_id) <= 36 else None
            )
            # Another team's service is answered exactly like a missing one.
            if service is None or not caller.sees_team(service.team_id):
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

    @api.post("/{service_id}/integration_key/rotate", response_model=ServiceOut)
    async def rotate_key(service_id: str, body: RotateIn | None = None) -> ServiceOut:
        """A new integration key; the old one keeps working for `overlap_seconds` (one hour
        by default) so senders can be moved over without losing alerts."""
        overlap = body.overlap_seconds if body else RotateIn().overlap_seconds
        async with ctx.sessions.begin() as session:
            service = await repo.rotate_integration_key(session, service_id[:36], overlap, utcnow())
            return ServiceOut.of(service)

    return api
