"""The console's pages: server-rendered HTML read from the database, changes sent as the same
commands the REST API sends. Forms work without JavaScript; `static/app.js` makes them quicker.

One module per area registers its routes on one router; `common` holds what they share. The
order below is the order of registration, which decides between overlapping paths."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.templating import Jinja2Templates

from edge.webui import views
from edge.webui.headers import SecureRoute
from edge.webui.pages import analytics, dashboard, incidents, mail, oncall, services
from edge.webui.pages.common import Console
from oncallnova.context import AppContext

TEMPLATES = Path(__file__).parent.parent / "templates"
AREAS = (dashboard, incidents, oncall, services, analytics, mail)


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
    console = Console(ctx, tpl)
    for area in AREAS:
        area.register(ui, console)
    return ui
