"""The web UI: a live incident list served at `/` from the same port as the API.

This first page polls the REST API; login (JWT) and the SSE live feed come with the web UI
issue.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from oncallnova.context import AppContext

STATIC = Path(__file__).parent / "static"


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(tags=["ui"])
    page = (STATIC / "index.html").read_text()

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    return api
