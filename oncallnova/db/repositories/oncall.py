"""All SQL for users, teams, schedules and escalation policies, and the on-call count.

Functions take an `AsyncSession` whose transaction the caller owns. Writes check references
first so a bad id comes back as InvalidInput naming its field, not as a database error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova import oncall as domain
from oncallnova.db.models.oncall import (
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    LayerMember,
    LayerRestriction,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    Team,
    TeamMembership,
    User,
    new_feed_token,
)
from oncallnova.errors import Conflict, InvalidInput, NotFound
from oncallnova.oncall.render import HORIZON
from oncallnova.oncall.validation import reject_overlap

# --- users ---------------------------------------------------------------------------------


async def _email_taken(session: AsyncSession, email: str, except_id: str | None = None) -> bool:
    query = select(User.id).where(func.lower(User.email) == email.lower())
    if except_id is not None:
        query = query.where(User.id != except_id)
    return (await session.scalar(query)) is not None


async def create_user(
    session: AsyncSession,
    *,
    name: str,
    email: str,
    time_zone: str,
    contact_methods: list[dict[str, Any]],
    username: str | None = None,
    role: str = "viewer",
    password_hash: str | None = None,
) -> User:
    """Insert a user; a taken email (case-insensitive) or username is a Conflict."""
    if await _email_taken(session, email):
        raise Conflict(f"a user with email {email} already exists", field="email")
    if username is not None and await username_taken(session, username):
        raise Conflict(f"the username {username!r} is taken", field="username")
    user = User(
        name=name,
        email=email,
        time_zone=time_zone,
        contact_methods=contact_methods,
        username=username,
        role=role,
        password_hash=password_hash,
    )
    session.add(user)
    await _flush(session, "email", f"a user with email {email} already exists")
    return user


async def username_taken(
    session: AsyncSession, username: str, except_id: str | None = None
) -> bool:
    found = await session.scalar(select(User.id).where(User.username == username))
    return found is not None and found != except_id


async def other_admin_exists(session: AsyncSession, user_id: str) -> bool:
    """Whether an admin other than `user_id` remains."""
    found = await session.scalar(
        select(User.id).where(User.role == "admin", User.id != user_id).limit(1)
    )
    return found is not None


async def get_user(session: AsyncSession, user_id: str) -> User:
    """The user `user_id`, or NotFound."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    return user


async def list_users(session: AsyncSession, *, limit: int = 100, offset: int = 0) -> list[User]:
    """Users ordered by name."""
    query = select(User).order_by(User.name, User.id).limit(limit).offset(offset)
    return list(await session.scalars(query))


async def update_user(session: AsyncSession, user_id: str, **changes: Any) -> User:
    """Apply the given column changes to a user."""
    user = await get_user(session, user_id)
    email = changes.get("email")
    if email is not None and await _email_taken(session, email, except_id=user_id):
        raise Conflict(f"a user with email {email} already exists", field="email")
    username = changes.get("username")
    if username is not None and await username_taken(session, username, except_id=user_id):
        raise Conflict(f"the username {username!r} is taken", field="username")
    for column, value in changes.items():
        setattr(user, column, value)
    await _flush(session, "email", "email already in use")
    return user


async def delete_user(session: AsyncSession, user_id: str) -> None:
    """Delete a user who no longer takes part in any rotation, override or policy."""
    user = await get_user(session, user_id)
    await session.delete(user)
    await _flush(
        session,
        "user_id",
        "the user is still in a schedule layer, an override or an escalation policy",
    )


async def rotate_feed_token(session: AsyncSession, user_id: str) -> User:
    """Give the user a new iCalendar feed secret, which invalidates the old URL."""
    user = await get_user(session, user_id)
    user.ical_feed_token = new_feed_token()
    await session.flush()
    return user


async def users_by_id(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, User]:
    """The users among `user_ids` that exist, keyed by id."""
    if not user_ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(set(user_ids))))
    return {user.id: user for user in rows}


async def require_users(session: AsyncSession, fields: dict[str, str]) -> None:
    """Raise InvalidInput naming the first field whose user id does not exist."""
    found = await users_by_id(session, list(fields.values()))
    for field, user_id in fields.items():
        if user_id not in found:
            raise InvalidInput(f"user {user_id} does not exist", field=field)


# --- teams ---------------------------------------------------------------------------------


async def create_team(
    session: AsyncSession, *, name: str, description: str | None, member_ids: list[str]
) -> Team:
    """Insert a team with its members."""
    if await session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise Conflict(f"a team named {name!r} already exists", field="name")
    await require_users(session, {f"member_ids[{i}]": u for i, u in enumerate(member_ids)})
    team = Team(name=name, description=description)
    team.memberships = [TeamMembership(user_id=user_id) for user_id in dict.fromkeys(member_ids)]
    session.add(team)
    await _flush(session, "name", f"a team named {name!r} already exists")
    return team


async def get_team(session: AsyncSession, team_id: str) -> Team:
    """The team `team_id`, or NotFound."""
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} not found", field="team_id")
    return team


async def list_teams(session: AsyncSession) -> list[Team]:
    """Teams ordered by name."""
    return list(await session.scalars(select(Team).order_by(Team.name)))


async def update_team(
    session: AsyncSession,
    team_id: str,
    *,
    name: str | None,
    description: str | None,
    member_ids: list[str] | None,
) -> Team:
    """Rename a team, change its description, or replace its members."""
    team = await get_team(session, team_id)
    if name is not None and name != team.name:
        if await session.scalar(select(Team.id).where(Team.name == name)) is not None:
            raise Conflict(f"a team named {name!r} already exists", field="name")
        team.name = name
    if description is not None:
        team.description = description
    if member_ids is not None:
        await require_users(session, {f"member_ids[{i}]": u for i, u in enumerate(member_ids)})
        team.memberships.clear()
        await session.flush()  # delete old rows before the unique (team, user) pairs return
        team.memberships.extend(TeamMembership(user_id=u) for u in dict.fromkeys(member_ids))
    await session.flush()
    return team


async def delete_team(session: AsyncSession, team_id: str) -> None:
    """Delete a team; its schedules and policies stay, no longer owned by a team."""
    await session.delete(await get_team(session, team_id))
    await session.flush()


async def require_team(session: AsyncSession, team_id: str | None) -> None:
    """Raise InvalidInput if `team_id` is given but does not exist."""
    if team_id is not None and await session.get(Team, team_id) is None:
        raise InvalidInput(f"team {team_id} does not exist", field="team_id")


# --- schedules -----------------------------------------------------------------------------


def _layer_row(layer: domain.Layer, position: int) -> ScheduleLayer:
    return ScheduleLayer(
        position=position,
        name=layer.name,
        rotation_start=layer.rotation_start,
        end=layer.end,
        turn_unit=str(layer.turn_unit),
        turn_length=layer.turn_length,
        members=[LayerMember(position=i, user_id=u) for i, u in enumerate(layer.user_ids)],
        restrictions=[
            LayerRestriction(
                position=i,
                weekdays=sorted(r.weekdays),
                start_time=r.start,
                end_time=r.end,
            )
            for i, r in enumerate(layer.restrictions)
        ],
    )


async def _require_layer_users(
    session: AsyncSession, layers: Sequence[domain.Layer], first_index: int = 0
) -> None:
    fields = {
        f"layers[{first_index + n}].users[{i}]": user_id
        for n, layer in enumerate(layers)
        for i, user_id in enumerate(layer.user_ids)
    }
    await require_users(session, fields)


async def _name_taken(
    session: AsyncSession,
    model: type[Schedule] | type[EscalationPolicy],
    name: str,
    own: str | None,
) -> bool:
    query = select(model.id).where(model.name == name)
    if own is not None:
        query = query.where(model.id != own)
    return (await session.scalar(query)) is not None


async def create_schedule(
    session: AsyncSession,
    *,
    name: str,
    time_zone: str,
    description: str | None,
    team_id: str | None,
    layers: Sequence[domain.Layer],
) -> Schedule:
    """Insert a schedule with its layers (bottom first)."""
    if await _name_taken(session, Schedule, name, None):
        raise Conflict(f"a schedule named {name!r} already exists", field="name")
    await require_team(session, team_id)
    await _require_layer_users(session, layers)
    schedule = Schedule(name=name, time_zone=time_zone, description=description, team_id=team_id)
    schedule.layers = [_layer_row(layer, i) for i, layer in enumerate(layers)]
    session.add(schedule)
    await _flush(session, "name", f"a schedule named {name!r} already exists")
    return schedule


async def get_schedule(session: AsyncSession, schedule_id: str) -> Schedule:
    """The schedule `schedule_id` with its layers, or NotFound."""
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found", field="schedule_id")
    return schedule


async def list_schedules(session: AsyncSession, *, team_id: str | None = None) -> list[Schedule]:
    """Schedules ordered by name, optionally only one team's."""
    query = select(Schedule).order_by(Schedule.name)
    if team_id is not None:
        query = query.where(Schedule.team_id == team_id)
    return list(await session.scalars(query))


async def update_schedule(
    session: AsyncSession,
    schedule_id: str,
    *,
    name: str,
    time_zone: str,
    description: str | None,
    team_id: str | None,
    layers: Sequence[domain.Layer],
) -> Schedule:
    """Replace a schedule's fields and its whole stack of layers."""
    schedule = await get_schedule(session, schedule_id)
    if await _name_taken(session, Schedule, name, schedule_id):
        raise Conflict(f"a schedule named {name!r} already exists", field="name")
    await require_team(session, team_id)
    await _require_layer_users(session, layers)
    schedule.name, schedule.time_zone = name, time_zone
    schedule.description, schedule.team_id = description, team_id
    schedule.layers.clear()
    await session.flush()  # the old (schedule, position) rows must go before the new ones
    schedule.layers.extend(_layer_row(layer, i) for i, layer in enumerate(layers))
    await session.flush()
    return schedule


async def delete_schedule(session: AsyncSession, schedule_id: str) -> None:
    """Delete a schedule no escalation policy targets."""
    await session.delete(await get_schedule(session, schedule_id))
    await _flush(session, "schedule_id", "an escalation policy still targets this schedule")


async def add_layer(session: AsyncSession, schedule_id: str, layer: domain.Layer) -> ScheduleLayer:
    """Put a new layer on top of the schedule's stack."""
    schedule = await get_schedule(session, schedule_id)
    await _require_layer_users(session, [layer], first_index=len(schedule.layers))
    position = max((row.position for row in schedule.layers), default=-1) + 1
    row = _layer_row(layer, position)
    schedule.layers.append(row)
    await session.flush()
    return row


async def _get_layer(session: AsyncSession, schedule_id: str, layer_id: str) -> ScheduleLayer:
    row = await session.get(ScheduleLayer, layer_id)
    if row is None or row.schedule_id != schedule_id:
        raise NotFound(f"layer {layer_id} not found in schedule {schedule_id}", field="layer_id")
    return row


async def replace_layer(
    session: AsyncSession, schedule_id: str, layer_id: str, layer: domain.Layer
) -> ScheduleLayer:
    """Replace one layer's rotation in place, keeping its id and position."""
    row = await _get_layer(session, schedule_id, layer_id)
    await _require_layer_users(session, [layer], first_index=row.position)
    fresh = _layer_row(layer, row.position)
    row.name, row.rotation_start, row.end = fresh.name, fresh.rotation_start, fresh.end
    row.turn_unit, row.turn_length = fresh.turn_unit, fresh.turn_length
    row.members.clear()
    row.restrictions.clear()
    await session.flush()
    row.members.extend(fresh.members)
    row.restrictions.extend(fresh.restrictions)
    await session.flush()
    return row


async def delete_layer(session: AsyncSession, schedule_id: str, layer_id: str) -> None:
    """Remove one layer; the layers above it keep their order."""
    row = await _get_layer(session, schedule_id, layer_id)
    await session.delete(row)
    await session.flush()


async def list_overrides(
    session: AsyncSession, schedule_id: str, start: datetime | None, end: datetime | None
) -> list[ScheduleOverride]:
    """Overrides of a schedule that share an instant with `[start, end)` (open ends allowed)."""
    query = select(ScheduleOverride).where(ScheduleOverride.schedule_id == schedule_id)
    if start is not None:
        query = query.where(ScheduleOverride.end > start)
    if end is not None:
        query = query.where(ScheduleOverride.start < end)
    return list(await session.scalars(query.order_by(ScheduleOverride.start)))


async def create_override(
    session: AsyncSession, schedule_id: str, *, user_id: str, start: datetime, end: datetime
) -> ScheduleOverride:
    """Add an override; one overlapping an existing override is a Conflict."""
    # Lock the schedule row so two overlapping overrides cannot both pass the overlap check.
    locked = await session.scalar(
        select(Schedule.id).where(Schedule.id == schedule_id).with_for_update()
    )
    if locked is None:
        raise NotFound(f"schedule {schedule_id} not found", field="schedule_id")
    await require_users(session, {"user_id": user_id})
    existing = await list_overrides(session, schedule_id, start, end)
    reject_overlap(
        domain.Override("new", user_id, start, end), [_override_domain(o) for o in existing]
    )
    row = ScheduleOverride(schedule_id=schedule_id, user_id=user_id, start=start, end=end)
    session.add(row)
    await session.flush()
    return row


async def delete_override(session: AsyncSession, schedule_id: str, override_id: str) -> None:
    """Remove one override."""
    row = await session.get(ScheduleOverride, override_id)
    if row is None or row.schedule_id != schedule_id:
        raise NotFound(f"override {override_id} not found", field="override_id")
    await session.delete(row)
    await session.flush()


def _override_domain(row: ScheduleOverride) -> domain.Override:
    return domain.Override(row.id, row.user_id, row.start, row.end)


def layer_domain(row: ScheduleLayer) -> domain.Layer:
    """The pure rotation a stored layer describes."""
    return domain.Layer(
        id=row.id,
        name=row.name,
        user_ids=tuple(member.user_id for member in row.members),
        rotation_start=row.rotation_start,
        end=row.end,
        turn_unit=domain.TurnUnit(row.turn_unit),
        turn_length=row.turn_length,
        restrictions=tuple(
            domain.Restriction(frozenset(r.weekdays), r.start_time, r.end_time)
            for r in row.restrictions
        ),
    )


async def load_schedule(
    session: AsyncSession, schedule_id: str, start: datetime, end: datetime
) -> domain.Schedule:
    """The pure schedule, with the overrides that touch `[start, end)`, ready to render."""
    row = await get_schedule(session, schedule_id)
    return await _schedule_domain(session, row, start, end)


async def _schedule_domain(
    session: AsyncSession, row: Schedule, start: datetime, end: datetime
) -> domain.Schedule:
    return schedule_domain(row, await list_overrides(session, row.id, start, end))


def schedule_domain(row: Schedule, overrides: Sequence[ScheduleOverride]) -> domain.Schedule:
    """The pure schedule a stored one describes, with the overrides given."""
    return domain.Schedule(
        id=row.id,
        name=row.name,
        time_zone=row.time_zone,
        layers=tuple(layer_domain(layer) for layer in row.layers),
        # Oldest first, so where stored overrides overlap (they should not) the newest wins.
        overrides=tuple(
            _override_domain(o) for o in sorted(overrides, key=lambda o: (o.created_at, o.id))
        ),
    )


# --- escalation policies -------------------------------------------------------------------


@dataclass(frozen=True)
class LevelSpec:
    delay_minutes: int
    targets: list[domain.EscalationTarget]


def _level_rows(levels: Sequence[LevelSpec]) -> list[EscalationLevel]:
    return [
        EscalationLevel(
            position=n,
            delay_minutes=level.delay_minutes,
            targets=[
                EscalationTarget(
                    position=i,
                    target_type=str(target.kind),
                    user_id=target.id if target.kind == domain.TargetKind.USER else None,
                    schedule_id=target.id if target.kind == domain.TargetKind.SCHEDULE else None,
                )
                for i, target in enumerate(level.targets)
            ],
        )
        for n, level in enumerate(levels)
    ]


async def _require_targets(session: AsyncSession, levels: Sequence[LevelSpec]) -> None:
    users: dict[str, str] = {}
    for n, level in enumerate(levels):
        for i, target in enumerate(level.targets):
            field = f"levels[{n}].targets[{i}].id"
            if target.kind == domain.TargetKind.USER:
                users[field] = target.id
            elif await session.get(Schedule, target.id) is None:
                raise InvalidInput(f"schedule {target.id} does not exist", field=field)
    await require_users(session, users)


async def create_policy(
    session: AsyncSession,
    *,
    name: str,
    description: str | None,
    num_loops: int,
    team_id: str | None,
    levels: Sequence[LevelSpec],
) -> EscalationPolicy:
    """Insert an escalation policy with its levels and targets."""
    if await _name_taken(session, EscalationPolicy, name, None):
        raise Conflict(f"an escalation policy named {name!r} already exists", field="name")
    await require_team(session, team_id)
    await _require_targets(session, levels)
    policy = EscalationPolicy(
        name=name, description=description, num_loops=num_loops, team_id=team_id
    )
    policy.levels = _level_rows(levels)
    session.add(policy)
    await _flush(session, "name", f"an escalation policy named {name!r} already exists")
    return policy


async def get_policy(session: AsyncSession, policy_id: str) -> EscalationPolicy:
    """The policy `policy_id` with its levels, or NotFound."""
    policy = await session.get(EscalationPolicy, policy_id)
    if policy is None:
        raise NotFound(f"escalation policy {policy_id} not found", field="escalation_policy_id")
    return policy


async def list_policies(session: AsyncSession) -> list[EscalationPolicy]:
    """Policies ordered by name."""
    return list(await session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))


async def update_policy(
    session: AsyncSession,
    policy_id: str,
    *,
    name: str,
    description: str | None,
    num_loops: int,
    team_id: str | None,
    levels: Sequence[LevelSpec],
) -> EscalationPolicy:
    """Replace a policy's fields and levels."""
    policy = await get_policy(session, policy_id)
    if await _name_taken(session, EscalationPolicy, name, policy_id):
        raise Conflict(f"an escalation policy named {name!r} already exists", field="name")
    await require_team(session, team_id)
    await _require_targets(session, levels)
    policy.name, policy.description = name, description
    policy.num_loops, policy.team_id = num_loops, team_id
    policy.levels.clear()
    await session.flush()
    policy.levels.extend(_level_rows(levels))
    await session.flush()
    return policy


async def delete_policy(session: AsyncSession, policy_id: str) -> None:
    """Delete a policy. Services pointing at it (no foreign key) then page nobody."""
    await session.delete(await get_policy(session, policy_id))
    await session.flush()


def policy_domain(row: EscalationPolicy) -> domain.EscalationPolicy:
    """The pure policy a stored one describes."""
    return domain.EscalationPolicy(
        id=row.id,
        name=row.name,
        num_loops=row.num_loops,
        levels=tuple(
            domain.EscalationLevel(
                id=level.id,
                delay_minutes=level.delay_minutes,
                targets=tuple(
                    domain.EscalationTarget(
                        domain.TargetKind(t.target_type), t.user_id or t.schedule_id or ""
                    )
                    for t in level.targets
                ),
            )
            for level in row.levels
        ),
    )


async def load_policy(
    session: AsyncSession, policy_id: str, at: datetime
) -> tuple[domain.EscalationPolicy, dict[str, domain.Schedule]]:
    """The pure policy and every schedule it targets, with overrides around `at`."""
    policy = policy_domain(await get_policy(session, policy_id))
    schedules: dict[str, domain.Schedule] = {}
    for level in policy.levels:
        for target in level.targets:
            if target.kind == domain.TargetKind.SCHEDULE and target.id not in schedules:
                schedules[target.id] = await load_schedule(
                    session, target.id, at - HORIZON, at + HORIZON
                )
    return policy, schedules


# --- who is on call ------------------------------------------------------------------------


async def schedules_of_user(session: AsyncSession, user_id: str) -> list[Schedule]:
    """Schedules in which the user takes turns or holds an override."""
    in_layers = (
        select(ScheduleLayer.schedule_id)
        .join(LayerMember, LayerMember.layer_id == ScheduleLayer.id)
        .where(LayerMember.user_id == user_id)
    )
    in_overrides = select(ScheduleOverride.schedule_id).where(ScheduleOverride.user_id == user_id)
    query = (
        select(Schedule)
        .where(or_(Schedule.id.in_(in_layers), Schedule.id.in_(in_overrides)))
        .order_by(Schedule.name)
    )
    return list(await session.scalars(query))


async def user_shifts(
    session: AsyncSession, user_id: str, start: datetime, end: datetime
) -> list[tuple[Schedule, domain.Shift]]:
    """Every shift the user holds in `[start, end)`, across all schedules."""
    found: list[tuple[Schedule, domain.Shift]] = []
    for row in await schedules_of_user(session, user_id):
        schedule = await _schedule_domain(session, row, start, end)
        found += [(row, s) for s in domain.render(schedule, start, end) if s.user_id == user_id]
    return sorted(found, key=lambda pair: pair[1].start)


async def count_engineers_on_call(session: AsyncSession, at: datetime) -> int:
    """How many distinct people some schedule puts on call at `at` (feeds
    `oncall_oncall_engineers_active`). Users targeted directly by a policy are not counted:
    they are reachable, not on a shift."""
    on_call: set[str] = set()
    # Only schedules with a layer or an override in force can put anyone on call.
    active = or_(
        Schedule.id.in_(select(ScheduleLayer.schedule_id)),
        Schedule.id.in_(
            select(ScheduleOverride.schedule_id).where(
                and_(ScheduleOverride.start <= at, ScheduleOverride.end > at)
            )
        ),
    )
    # A fixed number of queries whatever the number of schedules (the exporter runs this on
    # every scrape): the schedules with their layers (selectin), then every override in force.
    rows = list(await session.scalars(select(Schedule).where(active)))
    in_force: dict[str, list[ScheduleOverride]] = {}
    for override in await session.scalars(
        select(ScheduleOverride).where(
            ScheduleOverride.schedule_id.in_([row.id for row in rows]),
            ScheduleOverride.start <= at,
            ScheduleOverride.end > at,
        )
    ):
        in_force.setdefault(override.schedule_id, []).append(override)
    instant = at + timedelta(microseconds=1)
    for row in rows:
        schedule = schedule_domain(row, in_force.get(row.id, []))
        user_id = domain.render(schedule, at, instant)[0].user_id
        if user_id is not None:
            on_call.add(user_id)
    return len(on_call)


async def _flush(session: AsyncSession, field: str, message: str) -> None:
    """Flush, turning a constraint violation (a race past our checks) into a Conflict."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(message, field=field) from exc
