"""gRPC `IncidentService`, over the same service functions as the REST routes.

Domain errors become statuses in `oncallnova.grpc_errors.ErrorInterceptor`, for every edge."""

from __future__ import annotations

from datetime import datetime

import grpc

from edge.incidents import service
from oncallnova.context import AppContext
from oncallnova.grpc_auth import grpc_principal
from proto import incidents_pb2 as pb
from proto import incidents_pb2_grpc as pb_grpc
from schemas.incident_v1 import IncidentV1


def _ts(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def to_pb(incident: IncidentV1) -> pb.Incident:
    return pb.Incident(
        id=incident.id,
        number=incident.number,
        title=incident.title,
        status=incident.status,
        severity=incident.severity,
        urgency=incident.urgency,
        service_id=incident.service_id,
        dedup_key=incident.dedup_key,
        alert_count=incident.alert_count,
        created_at=_ts(incident.created_at),
        acknowledged_at=_ts(incident.acknowledged_at),
        resolved_at=_ts(incident.resolved_at),
        assignee_id=incident.assignee_id or "",
        escalation_level=incident.escalation_level,
    )


class IncidentServicer(pb_grpc.IncidentServiceServicer):
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def ListIncidents(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        try:
            since = datetime.fromisoformat(request.since) if request.since else None
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "since: not an RFC 3339 time")
        rows, total = await service.list_incidents(
            self.ctx,
            statuses=list(request.status),
            service_ids=list(request.service_id),
            severities=list(request.severity),
            since=since,
            until=None,
            limit=request.limit or 50,
            offset=request.offset,
            caller=grpc_principal(),
        )
        return pb.ListIncidentsResponse(incidents=[to_pb(r) for r in rows], total=total)

    async def GetIncident(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return to_pb(await service.get_incident(self.ctx, request.id, grpc_principal()))

    async def _command(self, request, context, action):  # type: ignore[no-untyped-def]
        # The actor is the authenticated caller; the request's `actor` field is not trusted.
        command_id, incident_id = await service.send_command(
            self.ctx, request.id, action, grpc_principal()
        )
        return pb.CommandAccepted(command_id=command_id, incident_id=incident_id)

    async def Acknowledge(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return await self._command(request, context, "acknowledge")

    async def Resolve(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return await self._command(request, context, "resolve")

    async def GetTimeline(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        entries = await service.get_timeline(self.ctx, request.id, grpc_principal())
        return pb.Timeline(
            entries=[
                pb.TimelineEntry(at=_ts(e.at), kind=e.kind, actor=e.actor, message=e.message)
                for e in entries
            ]
        )


def add_to_server(server: grpc.aio.Server, ctx: AppContext) -> None:
    pb_grpc.add_IncidentServiceServicer_to_server(IncidentServicer(ctx), server)
