"""The web UI service: the console's pages, its static assets and the live incident feed,
served at `/` by the same HTTP app as the API (mounted last, so it never shadows an API path).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from edge.webui import access, feed, login, pages
from edge.webui.headers import SecureRoute
from edge.webui.session import current_viewer
from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
               ".png": "image/png", ".webmanifest": "application/manifest+json"}  # fmt: skip
# Which services a feed may show is looked up again this often (services and teams change).
VISIBILITY_REFRESH_S = 30.0


def router(ctx: AppContext) -> APIRouter:
    ui = APIRouter(route_class=SecureRoute, include_in_schema=False, tags=["ui"])
    assets = {p.name: p for p in STATIC.iterdir() if p.suffix in MEDIA_TYPES}

    @ui.get("/static/{name}")
    async def static(name: str) -> Response:
        """Vendored assets only: nothing is loaded from another origin at run time."""
        path = assets.get(name)
        if path is None:
            return Response(status_code=404)
        return FileResponse(
            path,
            media_type=MEDIA_TYPES[path.suffix],
            headers={"Cache-Control": "public, max-age=300"},
        )

    @ui.get("/ui/events")
    async def events(request: Request, after: str | None = None) -> Response:
        """Server-Sent Events: each `incident.*` event the person may see, with the stream
        sequence as its id; a reconnect's `Last-Event-ID` resumes from the stream."""
        viewer = await current_viewer(request, ctx)
        if viewer is None:
            return Response(status_code=401)
        resume = feed.parse_resume_point(request.headers.get("last-event-id"), after)
        visible = await visible_services(ctx, viewer)

        def may_see(body: dict[str, Any]) -> bool:
            incident = body.get("incident") or {}
            return viewer.is_admin or incident.get("service_id") in visible

        async def stream() -> AsyncIterator[bytes]:
            nonlocal visible
            yield feed.sse_preamble()
            refreshed = asyncio.get_running_loop().time()
            async for item in feed.incident_events(ctx.bus, resume, may_see):
                if item is None:
                    yield b": keepalive\n\n"
                else:
                    yield feed.sse_message(item)
                now = asyncio.get_running_loop().time()
                if now - refreshed > VISIBILITY_REFRESH_S and not viewer.is_admin:
                    visible, refreshed = await visible_services(ctx, viewer), now

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    templates = pages.templates()
    ui.include_router(login.router(ctx, templates))
    ui.include_router(pages.router(ctx, templates))
    return ui


async def visible_services(ctx: AppContext, viewer: access.Viewer) -> set[str]:
    """Ids of the services whose incidents this person may follow live."""
    async with ctx.sessions() as session:
        return {s.id for s in await repo.list_services(session, viewer.teams)}
