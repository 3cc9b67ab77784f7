"""On-call REST API: users, teams, schedules, overrides, escalation policies, who is on call.

Every route opens one transaction; domain errors (InvalidInput, NotFound, Conflict) are mapped
to `{"error": {...}}` responses by the application's global handler.
"""

# No `from __future__ import annotations`: FastAPI must see the route-local `Session` alias.
import hmac
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edge.oncall import schemas
from edge.oncall import service as svc
from oncallnova import oncall as domain
from oncallnova.auth import bearer, current_principal
from oncallnova.db.models import oncall as rows
from oncallnova.db.repositories import oncall as repo
from oncallnova.db.types import utcnow
from oncallnova.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, Unauthorized
from oncallnova.oncall import ical
from oncallnova.oncall.localtime import require_aware
from oncallnova.security.guard import security_of
from oncallnova.security.passwords import hash_password
from oncallnova.security.principal import Principal

if TYPE_CHECKING:
    from oncallnova.context import AppContext

ICAL_MEDIA_TYPE = "text/calendar; charset=utf-8"
# What a calendar feed covers when the client does not say: a week back, five weeks ahead.
FEED_PAST, FEED_FUTURE = timedelta(days=7), timedelta(days=35)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No such object"},
    409: {"model": ErrorBody, "description": "Conflicts with stored data"},
    422: {"model": ErrorBody, "description": "Invalid input; `field` names it"},
}


Caller = Annotated[Principal, Depends(current_principal)]


async def _keep_an_admin(session: AsyncSession, leaving_id: str) -> None:
    if not await repo.other_admin_exists(session, leaving_id):
        raise Conflict("role: the last admin cannot stop being one", field="role")


def _may_edit(caller: Principal, schedule: rows.Schedule) -> None:
    """Responders edit their own teams' schedules (and unowned ones); admins any."""
    if not caller.acts_for_team(schedule.team_id):
        raise Forbidden(
            "schedule_id: a responder edits only their own teams' schedules", field="schedule_id"
        )


def _user_out(user: rows.User) -> schemas.UserOut:
    return schemas.UserOut.model_validate(user, from_attributes=True)


def _team_out(team: rows.Team) -> schemas.TeamOut:
    return schemas.TeamOut(
        id=team.id,
        name=team.name,
        description=team.description,
        member_ids=[m.user_id for m in team.memberships],
        created_at=team.created_at,
    )


def _override_out(row: rows.ScheduleOverride) -> schemas.OverrideOut:
    return schemas.OverrideOut.model_validate(row, from_attributes=True)


def _policy_out(row: rows.EscalationPolicy) -> schemas.PolicyOut:
    return schemas.PolicyOut(
        id=row.id,
        name=row.name,
        description=row.description,
        num_loops=row.num_loops,
        team_id=row.team_id,
        levels=[
            schemas.LevelOut(
                id=level.id,
                level=level.position + 1,
                delay_minutes=level.delay_minutes,
                targets=[
                    schemas.TargetIn.model_validate(
                        {"type": t.target_type, "id": t.user_id or t.schedule_id}
                    )
                    for t in level.targets
                ],
            )
            for level in row.levels
        ],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _levels(body: schemas.PolicyIn) -> list[repo.LevelSpec]:
    levels = [
        repo.LevelSpec(
            delay_minutes=level.delay_minutes,
            targets=[
                domain.EscalationTarget(domain.TargetKind(t.type), t.id) for t in level.targets
            ],
        )
        for level in body.levels
    ]
    domain.validate_policy(
        domain.EscalationPolicy(
            id="",
            num_loops=body.num_loops,
            levels=tuple(
                domain.EscalationLevel(tuple(lv.targets), lv.delay_minutes) for lv in levels
            ),
        )
    )
    return levels


def _ics(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type=ICAL_MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def router(ctx: "AppContext") -> APIRouter:
    """The on-call routes, bound to the process's database and clock."""
    api = APIRouter(prefix="/api/v1", responses=ERRORS)

    async def transaction() -> AsyncIterator[AsyncSession]:
        async with ctx.sessions.begin() as session:
            yield session

    Session = Annotated[AsyncSession, Depends(transaction)]

    # --- users ---------------------------------------------------------------------------

    @api.post("/users", status_code=status.HTTP_201_CREATED, tags=["users"])
    async def create_user(body: schemas.UserIn, session: Session) -> schemas.UserOut:
        """Create a user (admins); email and username must be unique. With a `password` the
        user can log in, with the `role` given (viewer by default)."""
        if body.email is None or body.name is None:
            raise InvalidInput("email: required unless a username is given", field="email")
        user = await repo.create_user(
            session,
            name=body.name,
            email=body.email,
            time_zone=body.time_zone,
            contact_methods=[m.model_dump(exclude_none=True) for m in body.contact_methods],
            username=body.username,
            role=body.role,
            password_hash=hash_password(body.password) if body.password else None,
        )
        return _user_out(user)

    @api.post("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT, tags=["users"])
    async def reset_password(user_id: str, body: schemas.PasswordResetIn, session: Session) -> None:
        """Set a user's password (admins); their tokens issued before now stop working."""
        user = await repo.get_user(session, user_id)
        user.password_hash = hash_password(body.new_password)
        user.password_changed_at = utcnow()

    @api.get("/users", tags=["users"])
    async def list_users(
        session: Session,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[schemas.UserOut]:
        """Users ordered by name."""
        return [_user_out(u) for u in await repo.list_users(session, limit=limit, offset=offset)]

    @api.get("/users/{user_id}/oncall.ics", tags=["users", "calendar"], response_class=Response)
    async def user_feed(
        user_id: str,
        token: Annotated[str, Query(description="the user's secret feed token")],
        session: Session,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Response:
        """The user's own shifts across every schedule, as iCalendar (subscribe by URL)."""
        user = await repo.get_user(session, user_id)
        if not hmac.compare_digest(token.encode(), user.ical_feed_token.encode()):
            raise Unauthorized("wrong feed token", field="token")
        now = ctx.clock()
        start, end = svc.check_range(start or now - FEED_PAST, end or now + FEED_FUTURE)
        shifts = await repo.user_shifts(session, user_id, start, end)
        body = ical.user_calendar(
            user.id, user.name, [(s.id, s.name, shift) for s, shift in shifts], now
        )
        return _ics(body, "oncall.ics")

    @api.get("/users/{user_id}/ical-feed", tags=["users", "calendar"])
    async def get_user_feed(user_id: str, session: Session) -> schemas.FeedOut:
        """The user's personal feed URL path, token included."""
        return _feed(await repo.get_user(session, user_id))

    @api.post("/users/{user_id}/ical-feed", tags=["users", "calendar"])
    async def rotate_user_feed(user_id: str, session: Session) -> schemas.FeedOut:
        """Issue a new feed token; the old URL stops working."""
        return _feed(await repo.rotate_feed_token(session, user_id))

    @api.get("/users/{user_id}", tags=["users"])
    async def get_user(user_id: str, session: Session) -> schemas.UserOut:
        """One user."""
        return _user_out(await repo.get_user(session, user_id))

    @api.patch("/users/{user_id}", tags=["users"])
    async def update_user(
        user_id: str, body: schemas.UserPatch, session: Session, caller: Caller
    ) -> schemas.UserOut:
        """Change some of a user's fields (one's own, or anyone's as an admin; `role` only
        as an admin)."""
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        if "role" in changes:
            caller.require_admin_for("role")
            if user_id == caller.user_id and changes["role"] != "admin":
                # The last admin demoting themself would lock everyone out of administration.
                await _keep_an_admin(session, user_id)
        if body.contact_methods is not None:
            changes["contact_methods"] = [
                m.model_dump(exclude_none=True) for m in body.contact_methods
            ]
        return _user_out(await repo.update_user(session, user_id, **changes))

    @api.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["users"])
    async def delete_user(user_id: str, session: Session) -> None:
        """Delete a user who is in no layer, override or escalation policy (else 409)."""
        await _keep_an_admin(session, user_id)
        await repo.delete_user(session, user_id)

    # --- teams ---------------------------------------------------------------------------

    @api.post("/teams", status_code=status.HTTP_201_CREATED, tags=["teams"])
    async def create_team(body: schemas.TeamIn, session: Session) -> schemas.TeamOut:
        """Create a team with its members."""
        team = await repo.create_team(
            session, name=body.name, description=body.description, member_ids=body.member_ids
        )
        return _team_out(team)

    @api.get("/teams", tags=["teams"])
    async def list_teams(session: Session) -> list[schemas.TeamOut]:
        """Teams ordered by name."""
        return [_team_out(t) for t in await repo.list_teams(session)]

    @api.get("/teams/{team_id}", tags=["teams"])
    async def get_team(team_id: str, session: Session) -> schemas.TeamOut:
        """One team and its members."""
        return _team_out(await repo.get_team(session, team_id))

    @api.patch("/teams/{team_id}", tags=["teams"])
    async def update_team(
        team_id: str, body: schemas.TeamPatch, session: Session
    ) -> schemas.TeamOut:
        """Rename a team, or replace its members (`member_ids`)."""
        team = await repo.update_team(
            session,
            team_id,
            name=body.name,
            description=body.description,
            member_ids=body.member_ids,
        )
        return _team_out(team)

    @api.delete("/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["teams"])
    async def delete_team(team_id: str, session: Session) -> None:
        """Delete a team; its schedules and policies stay, without a team."""
        await repo.delete_team(session, team_id)

    # --- schedules -----------------------------------------------------------------------

    @api.post("/schedules", status_code=status.HTTP_201_CREATED, tags=["schedules"])
    async def create_schedule(
        body: schemas.ScheduleIn, session: Session, caller: Caller
    ) -> schemas.ScheduleOut:
        """Create a schedule with its layers (bottom first; higher layers win). A responder
        creates schedules of their own teams only."""
        caller.may_set_team(body.team_id)
        schedule = await repo.create_schedule(
            session,
            name=body.name,
            time_zone=body.time_zone,
            description=body.description,
            team_id=body.team_id,
            layers=svc.layers_from_input(body),
        )
        return svc.schedule_out(schedule)

    @api.get("/schedules", tags=["schedules"])
    async def list_schedules(
        session: Session, team_id: str | None = None
    ) -> list[schemas.ScheduleOut]:
        """Schedules ordered by name."""
        return [svc.schedule_out(s) for s in await repo.list_schedules(session, team_id=team_id)]

    # Registered before `/schedules/{schedule_id}`, which would otherwise take "x.ics" as an id.
    @api.get(
        "/schedules/{schedule_id}.ics", tags=["schedules", "calendar"], response_class=Response
    )
    async def schedule_feed(
        schedule_id: str,
        session: Session,
        request: Request,
        start: datetime | None = None,
        end: datetime | None = None,
        token: Annotated[
            str | None, Query(description="the schedule's feed token (or send a bearer token)")
        ] = None,
    ) -> Response:
        """Every shift of the schedule as iCalendar; gaps are events too, so they are seen.
        Calendar clients use the URL with `?token=` from `GET …/ical-feed`."""
        stored = await session.scalar(
            select(rows.Schedule.ical_feed_token).where(rows.Schedule.id == schedule_id)
        )
        if token is not None:
            if stored is None or not hmac.compare_digest(token.encode(), stored.encode()):
                raise Unauthorized("wrong feed token", field="token")
        else:
            await _bearer_caller(request)
        now = ctx.clock()
        start, end = svc.check_range(start or now - FEED_PAST, end or now + FEED_FUTURE)
        schedule = await repo.load_schedule(session, schedule_id, start, end)
        shifts = domain.render(schedule, start, end)
        users = await repo.users_by_id(session, [s.user_id for s in shifts if s.user_id])
        body = ical.schedule_calendar(
            schedule.id, schedule.name, shifts, lambda user_id: users[user_id].name, now
        )
        return _ics(body, f"{schedule_id}.ics")

    @api.get("/schedules/{schedule_id}/ical-feed", tags=["schedules", "calendar"])
    async def get_schedule_feed(schedule_id: str, session: Session) -> schemas.ScheduleFeedOut:
        """The schedule's feed URL path, token included."""
        schedule = await repo.get_schedule(session, schedule_id)
        if schedule.ical_feed_token is None:
            schedule.ical_feed_token = rows.new_feed_token()
        return _schedule_feed(schedule)

    @api.post("/schedules/{schedule_id}/ical-feed", tags=["schedules", "calendar"])
    async def rotate_schedule_feed(
        schedule_id: str, session: Session, caller: Caller
    ) -> schemas.ScheduleFeedOut:
        """Issue a new feed token; the old URL stops working."""
        schedule = await repo.get_schedule(session, schedule_id)
        _may_edit(caller, schedule)
        schedule.ical_feed_token = rows.new_feed_token()
        return _schedule_feed(schedule)

    @api.get("/schedules/{schedule_id}", tags=["schedules"])
    async def get_schedule(schedule_id: str, session: Session) -> schemas.ScheduleOut:
        """One schedule with its layers."""
        return svc.schedule_out(await repo.get_schedule(session, schedule_id))

    @api.put("/schedules/{schedule_id}", tags=["schedules"])
    async def replace_schedule(
        schedule_id: str, body: schemas.ScheduleIn, session: Session, caller: Caller
    ) -> schemas.ScheduleOut:
        """Replace a schedule and its whole stack of layers (overrides are kept)."""
        current = await repo.get_schedule(session, schedule_id)
        _may_edit(caller, current)
        if body.team_id != current.team_id:
            caller.may_set_team(body.team_id)
        schedule = await repo.update_schedule(
            session,
            schedule_id,
            name=body.name,
            time_zone=body.time_zone,
            description=body.description,
            team_id=body.team_id,
            layers=svc.layers_from_input(body),
        )
        return svc.schedule_out(schedule)

    @api.delete(
        "/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["schedules"]
    )
    async def delete_schedule(schedule_id: str, session: Session) -> None:
        """Delete a schedule no escalation policy targets (else 409)."""
        await repo.delete_schedule(session, schedule_id)

    @api.post(
        "/schedules/{schedule_id}/layers", status_code=status.HTTP_201_CREATED, tags=["schedules"]
    )
    async def add_layer(
        schedule_id: str, body: schemas.LayerIn, session: Session, caller: Caller
    ) -> schemas.LayerOut:
        """Add a layer on top of the stack."""
        schedule = await repo.get_schedule(session, schedule_id)
        _may_edit(caller, schedule)
        layer = svc.layer_from_input(body, schedule.time_zone, "layer")
        return svc.layer_out(await repo.add_layer(session, schedule_id, layer))

    @api.put("/schedules/{schedule_id}/layers/{layer_id}", tags=["schedules"])
    async def replace_layer(
        schedule_id: str, layer_id: str, body: schemas.LayerIn, session: Session, caller: Caller
    ) -> schemas.LayerOut:
        """Replace one layer's rotation, keeping its place in the stack."""
        schedule = await repo.get_schedule(session, schedule_id)
        _may_edit(caller, schedule)
        layer = svc.layer_from_input(body, schedule.time_zone, "layer")
        return svc.layer_out(await repo.replace_layer(session, schedule_id, layer_id, layer))

    @api.delete(
        "/schedules/{schedule_id}/layers/{layer_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["schedules"],
    )
    async def delete_layer(
        schedule_id: str, layer_id: str, session: Session, caller: Caller
    ) -> None:
        """Remove one layer."""
        _may_edit(caller, await repo.get_schedule(session, schedule_id))
        await repo.delete_layer(session, schedule_id, layer_id)

    @api.get("/schedules/{schedule_id}/overrides", tags=["schedules"])
    async def list_overrides(
        schedule_id: str,
        session: Session,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[schemas.OverrideOut]:
        """Overrides touching `[start, end)`; both bounds optional."""
        await repo.get_schedule(session, schedule_id)
        found = await repo.list_overrides(session, schedule_id, start, end)
        return [_override_out(o) for o in found]

    @api.post(
        "/schedules/{schedule_id}/overrides",
        status_code=status.HTTP_201_CREATED,
        tags=["schedules"],
    )
    async def create_override(
        schedule_id: str, body: schemas.OverrideIn, session: Session, caller: Caller
    ) -> schemas.OverrideOut:
        """Put a user on call for an interval, above every layer. Overlaps are refused (409)."""
        _may_edit(caller, await repo.get_schedule(session, schedule_id))
        start, end = svc.check_range(body.start, body.end)
        row = await repo.create_override(
            session, schedule_id, user_id=body.user_id, start=start, end=end
        )
        return _override_out(row)

    @api.delete(
        "/schedules/{schedule_id}/overrides/{override_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["schedules"],
    )
    async def delete_override(
        schedule_id: str, override_id: str, session: Session, caller: Caller
    ) -> None:
        """Remove one override."""
        _may_edit(caller, await repo.get_schedule(session, schedule_id))
        await repo.delete_override(session, schedule_id, override_id)

    @api.get("/schedules/{schedule_id}/render", tags=["schedules"])
    async def render_schedule(
        schedule_id: str, start: datetime, end: datetime, session: Session
    ) -> schemas.RenderOut:
        """The final timeline over `[start, end)`: contiguous shifts, gaps explicit."""
        return await svc.render_schedule(session, schedule_id, start, end)

    # --- escalation policies -------------------------------------------------------------

    @api.post(
        "/escalation_policies", status_code=status.HTTP_201_CREATED, tags=["escalation policies"]
    )
    async def create_policy(body: schemas.PolicyIn, session: Session) -> schemas.PolicyOut:
        """Create a policy: ordered levels, each paging users and/or schedules."""
        policy = await repo.create_policy(
            session,
            name=body.name,
            description=body.description,
            num_loops=body.num_loops,
            team_id=body.team_id,
            levels=_levels(body),
        )
        return _policy_out(policy)

    @api.get("/escalation_policies", tags=["escalation policies"])
    async def list_policies(session: Session) -> list[schemas.PolicyOut]:
        """Policies ordered by name."""
        return [_policy_out(p) for p in await repo.list_policies(session)]

    @api.get("/escalation_policies/{policy_id}", tags=["escalation policies"])
    async def get_policy(policy_id: str, session: Session) -> schemas.PolicyOut:
        """One policy with its levels."""
        return _policy_out(await repo.get_policy(session, policy_id))

    @api.put("/escalation_policies/{policy_id}", tags=["escalation policies"])
    async def replace_policy(
        policy_id: str, body: schemas.PolicyIn, session: Session
    ) -> schemas.PolicyOut:
        """Replace a policy and its levels."""
        policy = await repo.update_policy(
            session,
            policy_id,
            name=body.name,
            description=body.description,
            num_loops=body.num_loops,
            team_id=body.team_id,
            levels=_levels(body),
        )
        return _policy_out(policy)

    @api.delete(
        "/escalation_policies/{policy_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["escalation policies"],
    )
    async def delete_policy(policy_id: str, session: Session) -> None:
        """Delete a policy."""
        await repo.delete_policy(session, policy_id)

    @api.get("/escalation_policies/{policy_id}/levels/{level}/paged", tags=["escalation policies"])
    async def paged_at_level(
        policy_id: str, level: int, session: Session, at: datetime | None = None
    ) -> list[schemas.OnCallEntry]:
        """Who level `level` (1-based) pages at `at` (default now)."""
        return await svc.paged_at_level(session, policy_id, level, at or ctx.clock())

    @api.get("/escalation_policies/{policy_id}/step", tags=["escalation policies"])
    async def escalation_step(
        policy_id: str, triggered_at: datetime, session: Session, at: datetime | None = None
    ) -> schemas.StepOut:
        """Which level an escalation triggered at `triggered_at` has reached at `at`."""
        policy = repo.policy_domain(await repo.get_policy(session, policy_id))
        step = domain.step_at(
            policy,
            require_aware(triggered_at, "triggered_at"),
            require_aware(at or ctx.clock(), "at"),
        )
        return schemas.StepOut(
            level=step.level,
            loop=step.loop,
            started_at=step.started_at,
            next_step_at=step.next_step_at,
        )

    # --- who is on call ------------------------------------------------------------------

    @api.get("/oncall", tags=["on call"])
    async def who_is_on_call(
        session: Session,
        schedule: Annotated[str | None, Query(description="schedule id")] = None,
        escalation_policy: Annotated[str | None, Query(description="policy id")] = None,
        at: Annotated[datetime | None, Query(description="instant; default now")] = None,
    ) -> schemas.OnCallOut:
        """Who is on call, and the shift that put them there (layer, override, or gap)."""
        return await svc.who_is_on_call(session, schedule, escalation_policy, at or ctx.clock())

    return api


def _schedule_feed(schedule: rows.Schedule) -> schemas.ScheduleFeedOut:
    token = schedule.ical_feed_token or ""
    return schemas.ScheduleFeedOut(
        schedule_id=schedule.id,
        token=token,
        path=f"/api/v1/schedules/{schedule.id}.ics?token={token}",
    )


async def _bearer_caller(request: Request) -> Principal:
    """The caller by bearer token, for a route that also takes a feed token."""
    token, via_cookie = bearer(request)
    if token is None:
        raise NotAuthenticated("send ?token=<feed token> or 'Authorization: Bearer <token>'")
    return await (await security_of(request.app.state.ctx)).authenticate(
        token, via_cookie=via_cookie
    )


def _feed(user: rows.User) -> schemas.FeedOut:
    return schemas.FeedOut(
        user_id=user.id,
        token=user.ical_feed_token,
        path=f"/api/v1/users/{user.id}/oncall.ics?token={user.ical_feed_token}",
    )
