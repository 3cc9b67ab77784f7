"""The console's pages: server-rendered HTML read from the database, changes sent as the same
commands the REST API sends. Forms work without JavaScript; `static/app.js` makes them quicker."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from edge.incidents import service as incidents
from edge.incidents.services_rest import RotateIn
from edge.webui import access, analytics_view, borrowed, rota, views
from edge.webui.access import Viewer
from edge.webui.headers import SecureRoute
from edge.webui.session import check_csrf, csrf_of, current_viewer, login_required
from edge.webui.snippets import snippets
from oncallnova import oncall as domain
from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Incident, Service
from oncallnova.db.repositories import incidents as repo
from oncallnova.db.repositories import oncall as oncall_repo
from oncallnova.errors import Forbidden, InvalidInput, NotFound, OnCallNovaError
from oncallnova.oncall.render import HORIZON
from schemas.incident_v1 import CommandAction

TEMPLATES = Path(__file__).parent / "templates"
OPEN = ["triggered", "acknowledged"]
DASHBOARD_ROWS = 200
DAY_SAMPLE = 1000
PAGE_SIZES = (25, 50, 100)
ROTA_DAYS = 14
PAYLOADS_SHOWN = 50
# The REST routes the analytics and mail pages are built on (other edges own them).
ANALYTICS = "/api/v1/analytics"
MAIL = "/api/v1/mail"
FLASH = {
    "acknowledge": "Acknowledged.",
    "resolve": "Resolved.",
    "escalate": "Escalated.",
    "reassign": "Reassigned.",
    "note": "Note added.",
    "override": "Override created.",
    "rotated": "A new integration key is in force; the old one keeps working for an hour.",
    "bulk": "Sent to the selected incidents.",
}
ACTIONS: dict[str, CommandAction] = {
    "acknowledge": "acknowledge",
    "resolve": "resolve",
    "escalate": "escalate",
    "reassign": "reassign",
    "note": "add_note",
}


def wants_json(request: Request) -> bool:
    """A script's request (app.js sends `Accept: application/json`) rather than a form post."""
    return "application/json" in request.headers.get("accept", "")


def templates() -> Jinja2Templates:
    env = Jinja2Templates(directory=str(TEMPLATES))
    env.env.globals["duration"] = views.duration
    env.env.globals["age"] = views.age
    env.env.filters["pretty_json"] = lambda v: json.dumps(v, indent=2, sort_keys=True)
    env.env.filters["local"] = lambda v, tz="UTC": v.astimezone(ZoneInfo(tz)).strftime(
        "%a %d %b %H:%M"
    )
    env.env.filters["iso"] = lambda v: v.isoformat()
    return env


def router(ctx: AppContext, tpl: Jinja2Templates) -> APIRouter:
    ui = APIRouter(route_class=SecureRoute, include_in_schema=False)

    def page(
        request: Request, name: str, viewer: Viewer | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        flash = FLASH.get(request.query_params.get("flash", ""))
        return tpl.TemplateResponse(
            request,
            name,
            {
                "viewer": viewer,
                "csrf": viewer.csrf if viewer is not None else "",
                "now": ctx.clock(),
                "flash": flash,
                "path": request.url.path,
                **context,
            },
            status_code=status,
        )

    def problem(request: Request, viewer: Viewer, error: OnCallNovaError) -> Response:
        if wants_json(request):
            return JSONResponse(error.to_dict(), status_code=error.status_code)
        return page(request, "error.html", viewer, status=error.status_code, error=error)

    async def services_of(session: AsyncSession, viewer: Viewer) -> dict[str, Service]:
        """The services this person may see, by id."""
        rows = await repo.list_services(session, viewer.teams)
        return {s.id: s for s in rows}

    # --- dashboard -----------------------------------------------------------------------

    @ui.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        from edge.webui.feed import last_sequence

        # Read the stream position first: the live feed resumes after it, so an event that
        # lands while the page is being built is replayed rather than lost.
        seq = await last_sequence(ctx.bus)
        now = ctx.clock()
        async with ctx.sessions() as session:
            visible = await services_of(session, viewer)
            open_rows, _ = await repo.list_incidents(
                session,
                limit=DASHBOARD_ROWS,
                offset=0,
                statuses=OPEN,
                teams=viewer.teams,
            )
            # The newest DAY_SAMPLE incidents of the day give the medians and the chart; the
            # counts are exact whatever the day's size.
            day_rows, day_total = await repo.list_incidents(
                session,
                limit=DAY_SAMPLE,
                offset=0,
                teams=viewer.teams,
                since=now - timedelta(hours=24),
            )
            day_alerts = await repo.alerts_since(session, now - timedelta(hours=24), viewer.teams)
        figures = views.day_figures(day_rows, now)
        figures = dataclasses.replace(figures, incidents=day_total, alerts=day_alerts)
        hours = [(now - timedelta(hours=24 - n)).strftime("%H:%M") for n in range(24)]
        ordered = views.sort_open(open_rows)
        return page(
            request,
            "dashboard.html",
            viewer,
            seq=seq,
            incidents=ordered,
            services=visible,
            actionable={
                i.id for i in ordered if access.can_act(viewer, team_of(visible.get(i.service_id)))
            },
            triggered=sum(1 for i in open_rows if i.status == "triggered"),
            acknowledged=sum(1 for i in open_rows if i.status == "acknowledged"),
            figures=figures,
            sampled=day_total > DAY_SAMPLE,
            hour_bars=views.bar_chart(figures.per_hour, hours),
        )

    @ui.get("/ui/fragments/incident-row/{ref}", response_class=HTMLResponse)
    async def incident_row(request: Request, ref: str) -> Response:
        """One dashboard row, for the live feed to insert or replace."""
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return Response(status_code=401)
        incident, svc = await visible_incident(ref, viewer)
        return page(
            request,
            "_incident_row.html",
            viewer,
            incident=incident,
            services={svc.id: svc},
            actionable={incident.id} if access.can_act(viewer, team_of(svc)) else set(),
            next="/",
        )

    @ui.get("/ui/fragments/counts", response_class=HTMLResponse)
    async def counts(request: Request) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return Response(status_code=401)
        async with ctx.sessions() as session:
            totals = {}
            for status in OPEN:
                _, totals[status] = await repo.list_incidents(
                    session, limit=1, offset=0, statuses=[status], teams=viewer.teams
                )
        return page(
            request,
            "_counts.html",
            viewer,
            triggered=totals["triggered"],
            acknowledged=totals["acknowledged"],
        )

    async def visible_incident(ref: str, viewer: Viewer) -> tuple[Incident, Service]:
        """The incident, if this person may see it (others get the same 404 as a wrong id)."""
        incident = await incidents.find_incident(ctx, ref, viewer.principal)
        async with ctx.sessions() as session:
            svc = await repo.service_by_id(session, incident.service_id)
        if svc is None:
            raise NotFound(f"no incident {ref!r}", field="id")
        return incident, svc

    # --- incidents -----------------------------------------------------------------------

    @ui.get("/incidents", response_class=HTMLResponse)
    async def incident_list(request: Request) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        q = request.query_params
        statuses = [s for s in q.getlist("status") if s in incidents.STATUSES]
        severities = [s for s in q.getlist("severity") if s in incidents.SEVERITIES]
        since_choice = q.get("since", "")
        limit = int(q["limit"]) if q.get("limit", "").isdigit() else PAGE_SIZES[0]
        limit = limit if limit in PAGE_SIZES else PAGE_SIZES[0]
        offset = int(q["offset"]) if q.get("offset", "").isdigit() else 0
        async with ctx.sessions() as session:
            visible = await services_of(session, viewer)
            chosen = [s for s in q.getlist("service_id") if s in visible]
            rows, total = await repo.list_incidents(
                session,
                limit=limit,
                offset=min(offset, incidents.MAX_OFFSET),
                statuses=statuses,
                severities=severities,
                service_ids=chosen,
                teams=viewer.teams,
                since=views.since_of(since_choice, ctx.clock()),
            )
        params = list(q.multi_items())
        actionable = {
            i.id for i in rows if access.can_act(viewer, team_of(visible.get(i.service_id)))
        }
        return page(
            request,
            "incidents.html",
            viewer,
            incidents=rows,
            services=visible,
            actionable=actionable,
            statuses=statuses,
            severities=severities,
            service_ids=chosen,
            since_choice=since_choice,
            since_choices=list(views.SINCE_CHOICES),
            all_statuses=incidents.STATUSES,
            all_severities=incidents.SEVERITIES,
            limit=limit,
            page_sizes=PAGE_SIZES,
            pagination=views.Pagination(offset, limit, total),
            previous_query=views.query_with(
                params, offset=views.Pagination(offset, limit, total).previous_offset
            ),
            next_query=views.query_with(
                params, offset=views.Pagination(offset, limit, total).next_offset
            ),
            self_path=request.url.path + ("?" + request.url.query if request.url.query else ""),
        )

    @ui.post("/incidents/bulk")
    async def bulk(request: Request) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        form = await request.form()
        try:
            await check_csrf(ctx, viewer, csrf_of(form.get("csrf_token"), request))
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        action = str(form.get("action", ""))
        if action not in ("acknowledge", "resolve"):
            return problem(
                request, viewer, InvalidInput("action: acknowledge or resolve", field="action")
            )
        ids = [str(v) for v in form.getlist("incident_id")][:500]
        if not ids:
            return problem(
                request,
                viewer,
                InvalidInput("incident_id: select at least one incident", field="incident_id"),
            )
        sent = []
        try:
            # Checked for every incident before any command goes out: all or nothing.
            for ref in ids:
                _, svc = await visible_incident(ref, viewer)
                if not access.can_act(viewer, team_of(svc)):
                    raise forbidden()
            for ref in ids:
                _, incident_id = await incidents.send_command(
                    ctx, ref, ACTIONS[action], viewer.principal
                )
                sent.append(incident_id)
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        if wants_json(request):
            return JSONResponse({"status": "accepted", "incident_ids": sent}, status_code=202)
        return redirect_back(form.get("next"), "/incidents", "bulk")

    @ui.get("/incidents/{ref}", response_class=HTMLResponse)
    async def incident_page(request: Request, ref: str) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        try:
            context = await incident_context(ref, viewer)
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        from edge.webui.feed import last_sequence

        return page(
            request, "incident_page.html", viewer, seq=await last_sequence(ctx.bus), **context
        )

    @ui.get("/ui/fragments/incident/{ref}", response_class=HTMLResponse)
    async def incident_fragment(request: Request, ref: str) -> Response:
        """The live part of an incident page, re-rendered when one of its events arrives."""
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return Response(status_code=401)
        try:
            context = await incident_context(ref, viewer)
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        return page(request, "_incident_live.html", viewer, **context)

    async def incident_context(ref: str, viewer: Viewer) -> dict[str, Any]:
        incident, svc = await visible_incident(ref, viewer)
        async with ctx.sessions() as session:
            timeline = await repo.timeline(session, incident.id)
            alerts = await repo.alerts_of_incident(session, incident.id, PAYLOADS_SHOWN)
            users = await oncall_repo.list_users(session, limit=500)
        names = {u.id: u.name for u in users}
        return {
            "incident": incident,
            "service": svc,
            "timeline": timeline,
            "alerts": alerts,
            "users": users,
            "names": names,
            "actor": lambda a: views.actor_label(a, names, {svc.id: svc.name}),
            "can_act": access.can_act(viewer, team_of(svc)),
        }

    @ui.post("/incidents/{ref}/{action}")
    async def incident_action(request: Request, ref: str, action: str) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        form = await request.form()
        try:
            await check_csrf(ctx, viewer, csrf_of(form.get("csrf_token"), request))
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        if action not in ACTIONS:
            return problem(request, viewer, NotFound(f"no action {action!r}", field="action"))
        try:
            incident, svc = await visible_incident(ref, viewer)
            if not access.can_act(viewer, team_of(svc)):
                return problem(request, viewer, forbidden())
            fields = action_fields(action, form)
            await incidents.send_command(
                ctx,
                incident.id,
                ACTIONS[action],
                viewer.principal,
                **fields,
            )
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        if wants_json(request):
            return JSONResponse({"status": "accepted", "incident_id": incident.id}, status_code=202)
        return redirect_back(form.get("next"), f"/incidents/{incident.number}", action)

    # --- on-call -------------------------------------------------------------------------

    @ui.get("/oncall", response_class=HTMLResponse)
    async def oncall_page(request: Request) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
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
        return page(
            request,
            "oncall.html",
            viewer,
            schedules=schedules,
            policies=policies,
            schedule_names=names,
        )

    @ui.get("/schedules/{schedule_id}", response_class=HTMLResponse)
    async def schedule_page(request: Request, schedule_id: str) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        try:
            context = await schedule_context(schedule_id)
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        return page(
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
    async def create_override(
        request: Request,
        schedule_id: str,
        csrf_token: str = Form(""),
        user_id: str = Form(""),
        start: str = Form(""),
        end: str = Form(""),
    ) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
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
            return page(
                request,
                "schedule.html",
                viewer,
                status=error.status_code,
                can_edit=can_edit_schedule(viewer, context["row"].team_id),
                override_error=error.message,
                **context,
            )
        return redirect_back(None, f"/schedules/{schedule_id}", "override")

    # --- services ------------------------------------------------------------------------

    @ui.get("/services", response_class=HTMLResponse)
    async def services_page(request: Request) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        async with ctx.sessions() as session:
            visible = await services_of(session, viewer)
            policies = {p.id: p for p in await oncall_repo.list_policies(session)}
            open_counts = {}
            for sid in visible:
                _, open_counts[sid] = await repo.list_incidents(
                    session, limit=1, offset=0, statuses=OPEN, service_ids=[sid]
                )
        return page(
            request,
            "services.html",
            viewer,
            services=sorted(visible.values(), key=lambda s: s.name.lower()),
            policies=policies,
            open_counts=open_counts,
        )

    @ui.get("/services/{service_id}", response_class=HTMLResponse)
    async def service_page(request: Request, service_id: str) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        async with ctx.sessions() as session:
            svc = await repo.service_by_id(session, service_id[:36])
            if svc is None or not access.can_see(viewer, svc.team_id):
                return problem(
                    request, viewer, NotFound(f"no service {service_id!r}", field="service_id")
                )
            policy = None
            levels: list[Any] = []
            if svc.escalation_policy_id:
                try:
                    policy = await oncall_repo.get_policy(session, svc.escalation_policy_id)
                    levels = list(policy.levels)
                except NotFound:
                    policy = None
            users = {u.id: u.name for u in await oncall_repo.list_users(session, limit=1000)}
            schedule_names = {s.id: s.name for s in await oncall_repo.list_schedules(session)}
            recent, _ = await repo.list_incidents(session, limit=10, offset=0, service_ids=[svc.id])
        manage = access.can_manage_services(viewer)
        reveal = manage and request.query_params.get("reveal") == "1"
        key = svc.integration_key
        base = str(request.base_url).rstrip("/")
        return page(
            request,
            "service.html",
            viewer,
            service=svc,
            policy=policy,
            levels=levels,
            users=users,
            schedule_names=schedule_names,
            recent=recent,
            manage=manage,
            reveal=reveal,
            masked_key=key[:4] + "•" * 24 + key[-4:],
            snippets=snippets(
                base, key if reveal else "<integration-key>", svc.name, nats_url(ctx)
            ),
        )

    @ui.post("/services/{service_id}/rotate-key")
    async def rotate_key(request: Request, service_id: str, csrf_token: str = Form("")) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        try:
            await check_csrf(ctx, viewer, csrf_of(csrf_token, request))
            if not access.can_manage_services(viewer):
                raise forbidden()
            async with ctx.sessions.begin() as session:
                await repo.rotate_integration_key(
                    session, service_id[:36], RotateIn().overlap_seconds, ctx.clock()
                )
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        return RedirectResponse(f"/services/{service_id}?reveal=1&flash=rotated", status_code=303)

    # --- analytics and mail --------------------------------------------------------------

    @ui.get("/analytics", response_class=HTMLResponse)
    async def analytics_page(request: Request) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        raw_days = request.query_params.get("days", "30")
        days = int(raw_days) if raw_days in ("7", "30", "90") else 30
        context: dict[str, Any] = {"days": days, "available": True, "problem": None}
        try:
            period = {"days": days}
            trends = await borrowed.get_json(request, ANALYTICS + "/trends", period)
            times = await borrowed.get_json(request, ANALYTICS + "/mttr-distribution", period)
            load = await borrowed.get_json(request, ANALYTICS + "/oncall-load", period)
        except borrowed.Unavailable:
            context["available"] = False
        except OnCallNovaError as error:
            context["problem"] = error.message
        else:
            context.update(
                trends=trends,
                stacks=analytics_view.day_stacks(trends.get("series", [])),
                incidents=times.get("incidents", 0),
                acknowledge=analytics_view.time_rows(times.get("time_to_acknowledge", {})),
                resolve=analytics_view.time_rows(times.get("time_to_resolve", {})),
                people=analytics_view.load_rows(load.get("people", [])),
                gaps=load.get("gaps", {}),
            )
        return page(request, "analytics.html", viewer, **context)

    @ui.get("/mail", response_class=HTMLResponse)
    async def mail_page(request: Request) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        context: dict[str, Any] = {"available": True, "problem": None, "messages": [], "total": 0}
        try:
            inbox = await borrowed.get_json(request, MAIL, {"limit": 100})
            context.update(messages=inbox.get("messages", []), total=inbox.get("total", 0))
        except borrowed.Unavailable:
            context["available"] = False
        except OnCallNovaError as error:
            context["problem"] = error.message
        return page(request, "mail.html", viewer, **context)

    @ui.get("/mail/{mail_id}", response_class=HTMLResponse)
    async def mail_message(request: Request, mail_id: int) -> Response:
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return login_required(request)
        try:
            message = await borrowed.get_json(request, f"{MAIL}/{mail_id}")
        except borrowed.Unavailable:
            return page(request, "mail.html", viewer, available=False, problem=None, messages=[])
        except OnCallNovaError as error:
            return problem(request, viewer, error)
        return page(request, "mail_message.html", viewer, message=message)

    return ui


def nats_url(ctx: AppContext) -> str:
    """The broker this platform uses, as a producer would dial it."""
    url = ctx.bus.nc.connected_url
    return f"nats://{url.hostname}:{url.port}" if url and url.hostname else "nats://127.0.0.1:4222"


def team_of(svc: Service | None) -> str | None:
    """The team owning a service (None: no team, or the service is unknown)."""
    return svc.team_id if svc is not None else None


def can_edit_schedule(viewer: Viewer, team_id: str | None) -> bool:
    """Admins, and responders of the schedule's team, edit schedules and overrides."""
    return access.can_act(viewer, team_id)


def forbidden() -> OnCallNovaError:
    return Forbidden("your role may not do this here", field="role")


def action_fields(action: str, form: Any) -> dict[str, Any]:
    """The command's fields from an action form; InvalidInput names the bad field."""
    if action == "escalate":
        raw = str(form.get("escalation_level", "")).strip()
        if not raw:
            return {"escalation_level": None}
        if not raw.isdigit() or int(raw) > 100:
            raise InvalidInput(
                "escalation_level: a whole number from 0 to 100", field="escalation_level"
            )
        return {"escalation_level": int(raw)}
    if action == "reassign":
        assignee = str(form.get("assignee_id", "")).strip()
        if not assignee or len(assignee) > 36:
            raise InvalidInput("assignee_id: choose a person", field="assignee_id")
        return {"assignee_id": assignee}
    if action == "note":
        note = str(form.get("note", "")).strip()
        if not note or len(note) > 65536:
            raise InvalidInput("note: write between 1 and 65536 characters", field="note")
        return {"note": note}
    return {}


def local_instant(value: str, zone: ZoneInfo, field: str) -> datetime:
    """A `datetime-local` form value read on the schedule's clock."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field}: a date and time, e.g. 2026-11-30T09:00", field=field
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def redirect_back(target: Any, default: str, flash: str) -> RedirectResponse:
    path = views.safe_next(str(target) if target else None, default)
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}flash={flash}", status_code=303)
