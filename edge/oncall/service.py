"""What REST and gRPC share: input → domain conversion, and the on-call queries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from edge.oncall import schemas
from oncallnova import oncall as domain
from oncallnova.db.models import oncall as rows
from oncallnova.db.repositories import oncall as repo
from oncallnova.errors import InvalidInput
from oncallnova.oncall.localtime import require_aware, to_local, zone
from oncallnova.oncall.render import HORIZON
from oncallnova.oncall.validation import validate_layer

MAX_RENDER_SPAN = timedelta(days=366)


def _wall_clock(value: datetime, time_zone: str, field: str) -> datetime:
    # An offset, if the client sent one, names an instant: read it on the schedule's clock.
    return value if value.tzinfo is None else to_local(require_aware(value, field), zone(time_zone))


def layer_from_input(layer: schemas.LayerIn, time_zone: str, field: str) -> domain.Layer:
    """The validated pure layer a request describes; InvalidInput names `field`."""
    pure = domain.Layer(
        id="",
        name=layer.name,
        user_ids=tuple(layer.users),
        rotation_start=_wall_clock(layer.rotation_start, time_zone, f"{field}.rotation_start"),
        end=None if layer.end is None else _wall_clock(layer.end, time_zone, f"{field}.end"),
        turn_unit=domain.TurnUnit(layer.turn_unit),
        turn_length=layer.turn_length,
        restrictions=tuple(
            domain.Restriction(frozenset(int(d) for d in r.weekdays), r.start_time, r.end_time)
            for r in layer.restrictions
        ),
    )
    validate_layer(pure, time_zone, field)
    return pure


def layers_from_input(body: schemas.ScheduleIn) -> list[domain.Layer]:
    """Every layer of a schedule request, validated in the schedule's zone."""
    return [
        layer_from_input(layer, body.time_zone, f"layers[{n}]")
        for n, layer in enumerate(body.layers)
    ]


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A renderable `[start, end)`: aware, ordered, at most a year long."""
    start, end = require_aware(start, "start"), require_aware(end, "end")
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    if end - start > MAX_RENDER_SPAN:
        raise InvalidInput("a range may span at most 366 days", field="end")
    return start, end


def layer_out(row: rows.ScheduleLayer) -> schemas.LayerOut:
    return schemas.LayerOut(
        id=row.id,
        level=row.position + 1,
        name=row.name,
        users=[member.user_id for member in row.members],
        rotation_start=row.rotation_start,
        handoff_time=row.rotation_start.time(),
        end=row.end,
        turn_unit=row.turn_unit,
        turn_length=row.turn_length,
        restrictions=[
            schemas.RestrictionOut(
                weekdays=r.weekdays, start_time=r.start_time, end_time=r.end_time
            )
            for r in row.restrictions
        ],
    )


def schedule_out(row: rows.Schedule) -> schemas.ScheduleOut:
    return schemas.ScheduleOut(
        id=row.id,
        name=row.name,
        time_zone=row.time_zone,
        description=row.description,
        team_id=row.team_id,
        layers=[layer_out(layer) for layer in row.layers],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def shift_out(shift: domain.Shift) -> schemas.ShiftOut:
    return schemas.ShiftOut(
        start=shift.start,
        end=shift.end,
        source=shift.source.value,
        user_id=shift.user_id,
        layer_id=shift.layer_id,
        layer=None if shift.layer_index is None else shift.layer_index + 1,
        override_id=shift.override_id,
    )


def user_brief(user: rows.User) -> schemas.UserBrief:
    return schemas.UserBrief(id=user.id, name=user.name, email=user.email)


async def render_schedule(
    session: AsyncSession, schedule_id: str, start: datetime, end: datetime
) -> schemas.RenderOut:
    """The resolved timeline of a stored schedule over `[start, end)`."""
    start, end = check_range(start, end)
    schedule = await repo.load_schedule(session, schedule_id, start, end)
    shifts = domain.render(schedule, start, end)
    return schemas.RenderOut(
        schedule_id=schedule_id,
        time_zone=schedule.time_zone,
        start=start,
        end=end,
        shifts=[shift_out(s) for s in shifts],
    )


async def who_is_on_call(
    session: AsyncSession, schedule_id: str | None, policy_id: str | None, at: datetime
) -> schemas.OnCallOut:
    """Who a schedule and/or every level of a policy puts on call at `at`, gaps included."""
    if schedule_id is None and policy_id is None:
        raise InvalidInput("give a schedule or an escalation_policy", field="schedule")
    at = require_aware(at, "at")
    pending: list[tuple[str | None, schemas.OnCallEntry]] = []
    if schedule_id is not None:
        schedule = await repo.load_schedule(session, schedule_id, at - HORIZON, at + HORIZON)
        shift = domain.who_is_on_call(schedule, at)
        entry = schemas.OnCallEntry(
            user=None, source=shift.source.value, schedule_id=schedule_id, shift=shift_out(shift)
        )
        pending.append((shift.user_id, entry))
    if policy_id is not None:
        policy, schedules = await repo.load_policy(session, policy_id, at)
        for level in range(1, len(policy.levels) + 1):
            for page in domain.who_is_paged(policy, schedules, level, at):
                by_schedule = page.target.kind == domain.TargetKind.SCHEDULE
                assert page.shift is not None or not by_schedule
                entry = schemas.OnCallEntry(
                    user=None,
                    source=page.shift.source.value if page.shift else "direct",
                    schedule_id=page.target.id if by_schedule else None,
                    escalation_policy_id=policy_id,
                    escalation_level=level,
                    shift=shift_out(page.shift) if page.shift else None,
                )
                pending.append((page.user_id, entry))
    users = await repo.users_by_id(session, [u for u, _ in pending if u is not None])
    for user_id, entry in pending:
        if user_id is not None:
            entry.user = user_brief(users[user_id])
    return schemas.OnCallOut(at=at, oncall=[entry for _, entry in pending])


async def paged_at_level(
    session: AsyncSession, policy_id: str, level: int, at: datetime
) -> list[schemas.OnCallEntry]:
    """Who level `level` of a policy pages at `at`."""
    policy = await repo.get_policy(session, policy_id)
    if not 1 <= level <= len(policy.levels):
        raise InvalidInput(f"level must be between 1 and {len(policy.levels)}", field="level")
    answer = await who_is_on_call(session, None, policy_id, require_aware(at, "at"))
    return [entry for entry in answer.oncall if entry.escalation_level == level]
