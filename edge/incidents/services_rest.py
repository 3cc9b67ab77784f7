"""REST for services: the things that break, with their integration keys and escalation policy."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo
from oncallnova.errors import NotFound


class ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    escalation_policy_id: str | None = Field(default=None, max_length=36)


class ServicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    escalation_policy_id: str | None = Field(default=None, max_length=36)


class ServiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    description: str | None
    integration_key: str
    escalation_policy_id: str | None
    created_at: datetime


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(prefix="/api/v1/services", tags=["services"])

    @api.get("", response_model=list[ServiceOut])
    async def list_services() -> list[ServiceOut]:
        async with ctx.sessions() as session:
            return [ServiceOut.model_validate(s) for s in await repo.list_services(session)]

    @api.post("", status_code=201, response_model=ServiceOut)
    async def create_service(body: ServiceIn) -> ServiceOut:
        """Create a service; its 32-character integration key is in the answer."""
        async with ctx.sessions.begin() as session:
            service = await repo.create_service(
                session,
                body.name,
                description=body.description,
                escalation_policy_id=body.escalation_policy_id,
            )
            return ServiceOut.model_validate(service)

    @api.get("/{service_id}", response_model=ServiceOut)
    async def get_service(service_id: str) -> ServiceOut:
        async with ctx.sessions() as session:
            service = (
                await repo.service_by_id(session, service_id) if len(service_id) <= 36 else None
            )
            if service is None:
                raise NotFound(f"no service {service_id!r}", field="service_id")
            return ServiceOut.model_validate(service)

    @api.patch("/{service_id}", response_model=ServiceOut)
    async def update_service(service_id: str, body: ServicePatch) -> ServiceOut:
        """Change name, description or escalation policy (`null` policy detaches it)."""
        async with ctx.sessions.begin() as session:
            service = await repo.update_service(
                session, service_id[:36], **body.model_dump(exclude_unset=True)
            )
            return ServiceOut.model_validate(service)

    return api
