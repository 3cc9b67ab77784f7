"""Incidents: the filtered list and its bulk action, one incident's page and live fragment, and
the actions taken on it, sent as the same commands the REST API sends."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from edge.incidents import service as incidents
from edge.webui import access, views
from edge.webui.access import Viewer
from edge.webui.feed import last_sequence
from edge.webui.pages.common import Console, forbidden, redirect_back, team_of, wants_json
from edge.webui.session import check_csrf, csrf_of
from oncallnova.db.repositories import incidents as repo
from oncallnova.db.repositories import oncall as oncall_repo
from oncallnova.errors import InvalidInput, NotFound, OnCallNovaError
from schemas.incident_v1 import CommandAction

PAGE_SIZES = (25, 50, 100)
PAYLOADS_SHOWN = 50
ACTIONS: dict[str, CommandAction] = {
    "acknowledge": "acknowledge",
    "resolve": "resolve",
    "escalate": "escalate",
    "reassign": "reassign",
    "note": "add_note",
}


def register(ui: APIRouter, console: Console) -> None:
    """`/incidents/bulk` stays registered before `/incidents/{ref}`: the first route to match wins."""
    ctx = console.ctx

    @ui.get("/incidents", response_class=HTMLResponse)
    @console.signed_in
    async def incident_list(request: Request, viewer: Viewer) -> Response:
        q = request.query_params
        statuses = [s for s in q.getlist("status") if s in incidents.STATUSES]
        severities = [s for s in q.getlist("severity") if s in incidents.SEVERITIES]
        since_choice = q.get("since", "")
        limit = int(q["limit"]) if q.get("limit", "").isdigit() else PAGE_SIZES[0]
        limit = limit if limit in PAGE_SIZES else PAGE_SIZES[0]
        offset = int(q["offset"]) if q.get("offset", "").isdigit() else 0
        async with ctx.sessions() as session:
            visible = await console.services_of(session, viewer)
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
        return console.page(
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
    @console.signed_in
    async def bulk(request: Request, viewer: Viewer) -> Response:
        form = await request.form()
        try:
            await check_csrf(ctx, viewer, csrf_of(form.get("csrf_token"), request))
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        action = str(form.get("action", ""))
        if action not in ("acknowledge", "resolve"):
            return console.problem(
                request, viewer, InvalidInput("action: acknowledge or resolve", field="action")
            )
        ids = [str(v) for v in form.getlist("incident_id")][:500]
        if not ids:
            return console.problem(
                request,
                viewer,
                InvalidInput("incident_id: select at least one incident", field="incident_id"),
            )
        sent = []
        try:
            # Checked for every incident before any command goes out: all or nothing.
            for ref in ids:
                _, svc = await console.visible_incident(ref, viewer)
                if not access.can_act(viewer, team_of(svc)):
                    raise forbidden()
            for ref in ids:
                _, incident_id = await incidents.send_command(
                    ctx, ref, ACTIONS[action], viewer.principal
                )
                sent.append(incident_id)
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        if wants_json(request):
            return JSONResponse({"status": "accepted", "incident_ids": sent}, status_code=202)
        return redirect_back(form.get("next"), "/incidents", "bulk")

    @ui.get("/incidents/{ref}", response_class=HTMLResponse)
    @console.signed_in
    async def incident_page(request: Request, viewer: Viewer, ref: str) -> Response:
        # The stream position before the incident is read: the live part resumes after it, so
        # an event landing while the page is built is replayed rather than skipped.
        seq = await last_sequence(ctx.bus)
        try:
            context = await incident_context(ref, viewer)
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        return console.page(request, "incident_page.html", viewer, seq=seq, **context)

    @ui.get("/ui/fragments/incident/{ref}", response_class=HTMLResponse)
    @console.signed_in_fragment
    async def incident_fragment(request: Request, viewer: Viewer, ref: str) -> Response:
        """The live part of an incident page, re-rendered when one of its events arrives."""
        try:
            context = await incident_context(ref, viewer)
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        return console.page(request, "_incident_live.html", viewer, **context)

    async def incident_context(ref: str, viewer: Viewer) -> dict[str, Any]:
        incident, svc = await console.visible_incident(ref, viewer)
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
    @console.signed_in
    async def incident_action(request: Request, viewer: Viewer, ref: str, action: str) -> Response:
        form = await request.form()
        try:
            await check_csrf(ctx, viewer, csrf_of(form.get("csrf_token"), request))
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        if action not in ACTIONS:
            return console.problem(
                request, viewer, NotFound(f"no action {action!r}", field="action")
            )
        try:
            incident, svc = await console.visible_incident(ref, viewer)
            if not access.can_act(viewer, team_of(svc)):
                return console.problem(request, viewer, forbidden())
            fields = action_fields(action, form)
            await incidents.send_command(
                ctx,
                incident.id,
                ACTIONS[action],
                viewer.principal,
                **fields,
            )
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        if wants_json(request):
            return JSONResponse({"status": "accepted", "incident_id": incident.id}, status_code=202)
        return redirect_back(form.get("next"), f"/incidents/{incident.number}", action)


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
