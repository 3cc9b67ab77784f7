"""gRPC `OnCallService`, over the same service functions as the REST routes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

import grpc

from edge.oncall import schemas
from edge.oncall import service as svc
from oncallnova.db.repositories import oncall as repo
from oncallnova.display import echo
from oncallnova.errors import InvalidInput, OnCallNovaError
from oncallnova.grpc_errors import status_for
from proto import oncall_pb2 as pb
from proto import oncall_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from oncallnova.context import AppContext


def _ts(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _instant(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{echo(value)} is not an RFC 3339 time", field=field) from exc


def _shift_pb(shift: schemas.ShiftOut) -> pb.Shift:
    return pb.Shift(
        start=_ts(shift.start),
        end=_ts(shift.end),
        source=shift.source,
        user_id=shift.user_id or "",
        layer_id=shift.layer_id or "",
        layer=shift.layer or 0,
        override_id=shift.override_id or "",
    )


def _entry_pb(entry: schemas.OnCallEntry) -> pb.OnCallEntry:
    message = pb.OnCallEntry(
        source=entry.source,
        schedule_id=entry.schedule_id or "",
        escalation_policy_id=entry.escalation_policy_id or "",
        escalation_level=entry.escalation_level or 0,
    )
    if entry.user is not None:
        message.user.CopyFrom(
            pb.User(id=entry.user.id, name=entry.user.name, email=entry.user.email)
        )
    if entry.shift is not None:
        message.shift.CopyFrom(_shift_pb(entry.shift))
    return message


def _schedule_pb(schedule: schemas.ScheduleOut) -> pb.Schedule:
    return pb.Schedule(
        id=schedule.id,
        name=schedule.name,
        time_zone=schedule.time_zone,
        description=schedule.description or "",
        team_id=schedule.team_id or "",
        layers=[
            pb.Layer(
                id=layer.id,
                level=layer.level,
                name=layer.name,
                user_ids=layer.users,
                rotation_start=layer.rotation_start.isoformat(),
                end=layer.end.isoformat() if layer.end else "",
                turn_unit=layer.turn_unit,
                turn_length=layer.turn_length,
                restrictions=[
                    pb.Restriction(
                        weekdays=r.weekdays,
                        start_time=r.start_time.isoformat(),
                        end_time=r.end_time.isoformat(),
                    )
                    for r in layer.restrictions
                ],
            )
            for layer in schedule.layers
        ],
    )


async def _abort(context: grpc.aio.ServicerContext, error: OnCallNovaError) -> NoReturn:
    message = f"{error.field}: {error.message}" if error.field else error.message
    await context.abort(status_for(error), message)
    raise AssertionError("abort returns only by raising")


class OnCallServicer(pb_grpc.OnCallServiceServicer):
    """Read-only on-call answers for programs; changes go through REST."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def WhoIsOnCall(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        try:
            at = _instant(request.at, "at") or self.ctx.clock()
            async with self.ctx.sessions.begin() as session:
                answer = await svc.who_is_on_call(
                    session,
                    request.schedule_id or None,
                    request.escalation_policy_id or None,
                    at,
                )
        except OnCallNovaError as error:
            await _abort(context, error)
        return pb.WhoIsOnCallResponse(
            at=_ts(answer.at), oncall=[_entry_pb(e) for e in answer.oncall]
        )

    async def RenderSchedule(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        try:
            start, end = _instant(request.start, "start"), _instant(request.end, "end")
            if start is None or end is None:
                raise InvalidInput(
                    "start and end are required", field="start" if not start else "end"
                )
            async with self.ctx.sessions.begin() as session:
                rendered = await svc.render_schedule(session, request.schedule_id, start, end)
        except OnCallNovaError as error:
            await _abort(context, error)
        return pb.RenderScheduleResponse(
            schedule_id=rendered.schedule_id,
            time_zone=rendered.time_zone,
            shifts=[_shift_pb(s) for s in rendered.shifts],
        )

    async def GetSchedule(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        try:
            async with self.ctx.sessions.begin() as session:
                return _schedule_pb(svc.schedule_out(await repo.get_schedule(session, request.id)))
        except OnCallNovaError as error:
            await _abort(context, error)

    async def ListSchedules(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        async with self.ctx.sessions.begin() as session:
            found = await repo.list_schedules(session, team_id=request.team_id or None)
            return pb.ListSchedulesResponse(
                schedules=[_schedule_pb(svc.schedule_out(s)) for s in found]
            )


def add_to_server(server: grpc.aio.Server, ctx: AppContext) -> None:
    """Register `OnCallService` on `server`."""
    pb_grpc.add_OnCallServiceServicer_to_server(OnCallServicer(ctx), server)
