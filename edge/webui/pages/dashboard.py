"""The dashboard: what is open now and the last 24 hours at a glance, plus the fragments the
live feed swaps in (one incident row, the open counts)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from edge.webui import access, views
from edge.webui.access import Viewer
from edge.webui.feed import last_sequence
from edge.webui.pages.common import OPEN, Console, team_of
from oncallnova.db.repositories import incidents as repo

DASHBOARD_ROWS = 200
DAY_SAMPLE = 1000


def register(ui: APIRouter, console: Console) -> None:
    ctx = console.ctx

    @ui.get("/", response_class=HTMLResponse)
    @console.signed_in
    async def dashboard(request: Request, viewer: Viewer) -> Response:
        # Read the stream position first: the live feed resumes after it, so an event that
        # lands while the page is being built is replayed rather than lost.
        seq = await last_sequence(ctx.bus)
        now = ctx.clock()
        async with ctx.sessions() as session:
            visible = await console.services_of(session, viewer)
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
        return console.page(
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
    @console.signed_in_fragment
    async def incident_row(request: Request, viewer: Viewer, ref: str) -> Response:
        """One dashboard row, for the live feed to insert or replace."""
        incident, svc = await console.visible_incident(ref, viewer)
        return console.page(
            request,
            "_incident_row.html",
            viewer,
            incident=incident,
            services={svc.id: svc},
            actionable={incident.id} if access.can_act(viewer, team_of(svc)) else set(),
            next="/",
        )

    @ui.get("/ui/fragments/counts", response_class=HTMLResponse)
    @console.signed_in_fragment
    async def counts(request: Request, viewer: Viewer) -> Response:
        async with ctx.sessions() as session:
            totals = {}
            for status in OPEN:
                _, totals[status] = await repo.list_incidents(
                    session, limit=1, offset=0, statuses=[status], teams=viewer.teams
                )
        return console.page(
            request,
            "_counts.html",
            viewer,
            triggered=totals["triggered"],
            acknowledged=totals["acknowledged"],
        )
