"""REST for incident management: list, get, acknowledge, resolve, escalate, reassign, notes,
timeline. Commands answer 202 once the command is durable in JetStream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from edge.incidents import service, services_rest
from oncallnova.auth import current_principal
from oncallnova.context import AppContext
from oncallnova.security.principal import Principal
from schemas.incident_v1 import IncidentV1


class IncidentList(BaseModel):
    incidents: list[IncidentV1]
    total: int
    limit: int
    offset: int


class IncidentOne(BaseModel):
    incident: IncidentV1


class Accepted(BaseModel):
    status: str = "accepted"
    command_id: str
    incident_id: str


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]


class TimelineOut(BaseModel):
    incident_id: str
    timeline: list[TimelineItem]


class EscalateIn(BaseModel):
    escalation_level: int | None = Field(default=None, ge=0, le=100)


class ReassignIn(BaseModel):
    assignee_id: str = Field(min_length=1, max_length=36)


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=65536)


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

    @api.get("", response_model=IncidentList)
    async def list_incidents(
        status: list[str] = Query(default=[]),
        service_id: list[str] = Query(default=[]),
        severity: list[str] = Query(default=[]),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        caller: Principal = Depends(current_principal),
    ) -> IncidentList:
        """Newest first; filters combine (repeat a filter for OR within it)."""
        rows, total = await service.list_incidents(
            ctx,
            statuses=status,
            service_ids=service_id,
            severities=severity,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
            caller=caller,
        )
        return IncidentList(incidents=rows, total=total, limit=limit, offset=offset)

    @api.get("/{ref}", response_model=IncidentOne)
    async def get_incident(ref: str, caller: Principal = Depends(current_principal)) -> IncidentOne:
        """By id or by number."""
        return IncidentOne(incident=await service.get_incident(ctx, ref, caller))

    @api.get("/{ref}/timeline", response_model=TimelineOut)
    async def get_timeline(ref: str, caller: Principal = Depends(current_principal)) -> TimelineOut:
        entries = await service.get_timeline(ctx, ref, caller)
        incident_id = (
            entries[0].incident_id
            if entries
            else (await service.find_incident(ctx, ref, caller)).id
        )
        return TimelineOut(
            incident_id=incident_id,
            timeline=[
                TimelineItem(at=e.at, kind=e.kind, actor=e.actor, message=e.message, data=e.data)
                for e in entries
            ],
        )

    async def command(ref: str, action: Any, caller: Principal, **fields: Any) -> Accepted:
        command_id, incident_id = await service.send_command(ctx, ref, action, caller, **fields)
        return Accepted(command_id=command_id, incident_id=incident_id)

    @api.post("/{ref}/acknowledge", status_code=202, response_model=Accepted)
    async def acknowledge(ref: str, caller: Principal = Depends(current_principal)) -> Accepted:
        return await command(ref, "acknowledge", caller)

    @api.post("/{ref}/resolve", status_code=202, response_model=Accepted)
    async def resolve(ref: str, caller: Principal = Depends(current_principal)) -> Accepted:
        return await command(ref, "resolve", caller)

    @api.post("/{ref}/escalate", status_code=202, response_model=Accepted)
    async def escalate(
        ref: str, body: EscalateIn | None = None, caller: Principal = Depends(current_principal)
    ) -> Accepted:
        level = body.escalation_level if body else None
        return await command(ref, "escalate", caller, escalation_level=level)

    @api.post("/{ref}/reassign", status_code=202, response_model=Accepted)
    async def reassign(
        ref: str, body: ReassignIn, caller: Principal = Depends(current_principal)
    ) -> Accepted:
        return await command(ref, "reassign", caller, assignee_id=body.assignee_id)

    @api.post("/{ref}/notes", status_code=202, response_model=Accepted)
    async def add_note(
        ref: str, body: NoteIn, caller: Principal = Depends(current_principal)
    ) -> Accepted:
        return await command(ref, "add_note", caller, note=body.note)

    edge = APIRouter()
    edge.include_router(api)
    edge.include_router(services_rest.router(ctx))
    return edge
