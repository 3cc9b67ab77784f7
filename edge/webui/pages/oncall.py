"""On call: who is on call now and who each escalation level pages, one schedule's two-week
rota (layers, overrides, the final rota), and the form that adds an override."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from edge.webui import access, rota
from edge.webui.access import Viewer
from edge.webui.pages.common import Console, forbidden, redirect_back, wants_json
from edge.webui.session import check_csrf, csrf_of
from oncallnova import oncall as domain
from oncallnova.db.repositories import oncall as oncall_repo
from oncallnova.errors import InvalidInput, OnCallNovaError
from oncallnova.oncall.render import HORIZON

ROTA_DAYS = 14


def register(ui: APIRouter, console: Console) -> None:
    ctx = console.ctx

    @ui.get("/oncall", response_class=HTMLResponse)
    @console.signed_in
    async def oncall_page(request: Request, viewer: Viewer) -> Response:
        now = ctx.clock()
        async with ctx.sessions() as session:
            users = {u.id: u for u in await oncall_repo.list_users(session, limit=1000)}
            schedules: list[dict[str, Any]] = []
            for row in await oncall_repo.list_schedules(session):
                pure = await oncall_repo.load_schedule(
                    session, row.id, now - HORIZON, now + HORIZON
                )
                shift = domain.who_is_on_call(pure, now)
                schedules.append(
                    {"row": row, "shift": shift, "user": users.get(shift.user_id or "")}
                )
            policies = []
            for policy_row in await oncall_repo.list_policies(session):
                policy, loaded = await oncall_repo.load_policy(session, policy_row.id, now)
                levels = []
                for level in range(1, len(policy.levels) + 1):
                    pages = domain.who_is_paged(policy, loaded, level, now)
                    levels.append(
                        {
                            "level": level,
                            "delay": policy.levels[level - 1].delay_minutes,
                            "pages": [
                                {"page": p, "user": users.get(p.user_id or "")} for p in pages
                            ],
                        }
                    )
                policies.append({"row": policy_row, "levels": levels})
        names = {s["row"].id: s["row"].name for s in schedules}
        return console.page(
            request,
            "oncall.html",
            viewer,
            schedules=schedules,
            policies=policies,
            schedule_names=names,
        )

    @ui.get("/schedules/{schedule_id}", response_class=HTMLResponse)
    @console.signed_in
    async def schedule_page(request: Request, viewer: Viewer, schedule_id: str) -> Response:
        try:
            context = await schedule_context(schedule_id)
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        return console.page(
            request,
            "schedule.html",
            viewer,
            can_edit=can_edit_schedule(viewer, context["row"].team_id),
            override_error=None,
            **context,
        )

    async def schedule_context(schedule_id: str) -> dict[str, Any]:
        now = ctx.clock()
        async with ctx.sessions() as session:
            row = await oncall_repo.get_schedule(session, schedule_id[:36])
            zone = ZoneInfo(row.time_zone)
            # Two weeks from the start of today on the schedule's own clock.
            start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
            start = start.astimezone(now.tzinfo)
            end = start + timedelta(days=ROTA_DAYS)
            pure = await oncall_repo.load_schedule(session, row.id, start, end)
            overrides = await oncall_repo.list_overrides(session, row.id, start, None)
            users = {u.id: u for u in await oncall_repo.list_users(session, limit=1000)}
        names = {u.id: u.name for u in users.values()}
        final = domain.render(pure, start, end)
        order = [uid for layer in pure.layers for uid in layer.user_ids]
        order += [o.user_id for o in pure.overrides]
        palette = rota.colours(order)
        rows = []
        for n, layer in enumerate(pure.layers, start=1):
            shifts = domain.render(rota.layer_only(pure, layer), start, end)
            rows.append({"label": f"Layer {n}" + (f" · {layer.name}" if layer.name else ""),
                         "segments": rota.segments(shifts, start, end, names, palette)})  # fmt: skip
        override_shifts = [
            domain.Shift(o.start, o.end, o.user_id, domain.ShiftSource.OVERRIDE, override_id=o.id)
            for o in pure.overrides
        ]
        rows.append(
            {
                "label": "Overrides",
                "segments": rota.segments(override_shifts, start, end, names, palette),
            }
        )
        final_row = {
            "label": "Final rota",
            "segments": rota.segments(final, start, end, names, palette),
        }
        on_call = domain.who_is_on_call(pure, now)
        return {
            "row": row,
            "rows": rows,
            "final": final_row,
            "final_shifts": final,
            "ticks": rota.day_ticks(start, end, row.time_zone),
            "now_x": 100 * (now - start).total_seconds() / (end - start).total_seconds(),
            "start": start,
            "end": end,
            "on_call": on_call,
            "on_call_user": users.get(on_call.user_id or ""),
            "overrides": overrides,
            "users": sorted(users.values(), key=lambda u: u.name.lower()),
            "names": names,
            "palette": palette,
            "days": ROTA_DAYS,
        }

    @ui.post("/schedules/{schedule_id}/overrides")
    @console.signed_in
    async def create_override(
        request: Request,
        viewer: Viewer,
        schedule_id: str,
        csrf_token: str = Form(""),
        user_id: str = Form(""),
        start: str = Form(""),
        end: str = Form(""),
    ) -> Response:
        try:
            await check_csrf(ctx, viewer, csrf_of(csrf_token, request))
            async with ctx.sessions.begin() as session:
                row = await oncall_repo.get_schedule(session, schedule_id[:36])
                if not can_edit_schedule(viewer, row.team_id):
                    raise forbidden()
                zone = ZoneInfo(row.time_zone)
                begins = local_instant(start, zone, "start")
                ends = local_instant(end, zone, "end")
                if ends <= begins:
                    raise InvalidInput("end: must be after start", field="end")
                await oncall_repo.create_override(
                    session, row.id, user_id=user_id, start=begins, end=ends
                )
        except OnCallNovaError as error:
            if wants_json(request):
                return JSONResponse(error.to_dict(), status_code=error.status_code)
            context = await schedule_context(schedule_id)
            return console.page(
                request,
                "schedule.html",
                viewer,
                status=error.status_code,
                can_edit=can_edit_schedule(viewer, context["row"].team_id),
                override_error=error.message,
                **context,
            )
        return redirect_back(None, f"/schedules/{schedule_id}", "override")


def can_edit_schedule(viewer: Viewer, team_id: str | None) -> bool:
    """Admins, and responders of the schedule's team, edit schedules and overrides."""
    return access.can_act(viewer, team_id)


def local_instant(value: str, zone: ZoneInfo, field: str) -> datetime:
    """A `datetime-local` form value read on the schedule's clock."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field}: a date and time, e.g. 2026-11-30T09:00", field=field
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
