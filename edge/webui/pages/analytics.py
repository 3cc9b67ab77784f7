"""Analytics: incident trends, times to acknowledge and resolve, and on-call load, read from
the analytics API as the signed-in person (another edge owns it; it may not be served here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from edge.webui import analytics_view, borrowed
from edge.webui.access import Viewer
from edge.webui.pages.common import Console
from oncallnova.errors import OnCallNovaError

# The REST route the page is built on (another edge owns it).
ANALYTICS = "/api/v1/analytics"


def register(ui: APIRouter, console: Console) -> None:
    @ui.get("/analytics", response_class=HTMLResponse)
    @console.signed_in
    async def analytics_page(request: Request, viewer: Viewer) -> Response:
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
        return console.page(request, "analytics.html", viewer, **context)
