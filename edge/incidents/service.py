"""Incident management, shared by the REST and gRPC surfaces: reads from the database,
changes published as commands for the lifecycle worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oncallnova.bus.connection import Outgoing
from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Incident, TimelineEntry
from oncallnova.db.repositories import incidents as repo
from oncallnova.errors import Forbidden, InvalidInput, NotFound
from oncallnova.security.principal import Principal
from oncallnova.security.roles import Role
from schemas.envelope import Envelope
from schemas.incident_v1 import CommandAction, IncidentCommandV1, IncidentV1
from schemas.subjects import INCIDENT_COMMAND

STATUSES = ("triggered", "acknowledged", "resolved")
MAX_OFFSET = 1_000_000_000
MAX_NUMBER = 2**63 - 1
SEVERITIES = ("critical", "error", "warning", "info")
MAX_PAGE = 500


def check_choices(field: str, values: list[str], allowed: tuple[str, ...]) -> list[str]:
    for value in values:
        if value not in allowed:
            raise InvalidInput(
                f"{field}: {value!r} is not one of {', '.join(allowed)}", field=field
            )
    return values


async def list_incidents(
    ctx: AppContext,
    *,
    statuses: list[str],
    service_ids: list[str],
    severities: list[str],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
    caller: Principal,
) -> tuple[list[IncidentV1], int]:
    check_choices("status", statuses, STATUSES)
    check_choices("severity", severities, SEVERITIES)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit: must be between 1 and {MAX_PAGE}", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset: must be between 0 and {MAX_OFFSET}", field="offset")
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{name}: needs a UTC offset, e.g. 2026-11-28T10:00:00Z", field=name)
    async with ctx.sessions() as session:
        rows, total = await repo.list_incidents(
            session,
            limit=limit,
            offset=offset,
            statuses=statuses,
            service_ids=service_ids,
            severities=severities,
            since=since,
            until=until,
            teams=caller.visible_teams(),
        )
    return [IncidentV1.model_validate(r) for r in rows], total


async def find_incident(ctx: AppContext, ref: str, caller: Principal) -> Incident:
    """By id, or by number (`42` or `#42`), as people say it; another team's incident is
    answered exactly like a missing one."""
    incident = None
    # Ids are UUID strings: anything longer, or with a NUL, cannot name an incident.
    if len(ref) <= 64 and "\x00" not in ref:
        async with ctx.sessions() as session:
            incident = await repo.get_incident(session, ref)
            number = ref.lstrip("#")
            if incident is None and number.isdigit() and int(number) <= MAX_NUMBER:
                incident = await repo.incident_by_number(session, int(number))
            if incident is not None and caller.visible_teams() is not None:
                service = await repo.service_by_id(session, incident.service_id)
                if service is None or not caller.sees_team(service.team_id):
                    incident = None
    if incident is None:
        raise NotFound(f"no incident {ref!r}", field="id")
    return incident


async def get_incident(ctx: AppContext, ref: str, caller: Principal) -> IncidentV1:
    return IncidentV1.model_validate(await find_incident(ctx, ref, caller))


async def get_timeline(ctx: AppContext, ref: str, caller: Principal) -> list[TimelineEntry]:
    incident = await find_incident(ctx, ref, caller)
    async with ctx.sessions() as session:
        return await repo.timeline(session, incident.id)


async def send_command(
    ctx: AppContext, ref: str, action: CommandAction, caller: Principal, **fields: Any
) -> tuple[str, str]:
    """Publish a command for the lifecycle worker; returns (command id, incident id) after
    PubAck. Only the incident's team's responders (and admins) may; others do not see it."""
    if caller.role < Role.responder:
        raise Forbidden(f"needs the responder role; you are a {caller.role.name}")
    incident = await find_incident(ctx, ref, caller)
    command = IncidentCommandV1(
        action=action,
        incident_id=incident.id,
        service_id=incident.service_id,
        actor=caller.actor,
        **fields,
    )
    envelope = Envelope(type=INCIDENT_COMMAND.type(), producer="edge.incidents")
    await ctx.bus.publish(Outgoing.of(INCIDENT_COMMAND, incident.id, command, envelope))
    return envelope.id, incident.id
