"""What every area of the console shares: the context and templates a page is rendered with
(`Console`), the answer to an error, the services and incidents a person may see, and the small
helpers several areas call (form or script, the owning team, redirect after a post)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from edge.incidents import service as incidents
from edge.webui import views
from edge.webui.access import Viewer
from edge.webui.session import current_viewer, login_required
from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Incident, Service
from oncallnova.db.repositories import incidents as repo
from oncallnova.errors import Forbidden, NotFound, OnCallNovaError

OPEN = ["triggered", "acknowledged"]
# The banner shown after a redirect, keyed by the `flash` query parameter it carries.
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

# A console route: called with the request, the signed-in person and the route's parameters.
Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Console:
    """The platform and the templates every page of the console is built from."""

    ctx: AppContext
    tpl: Jinja2Templates

    def page(
        self, request: Request, name: str, viewer: Viewer | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        flash = FLASH.get(request.query_params.get("flash", ""))
        return self.tpl.TemplateResponse(
            request,
            name,
            {
                "viewer": viewer,
                "csrf": viewer.csrf if viewer is not None else "",
                "now": self.ctx.clock(),
                "flash": flash,
                "path": request.url.path,
                **context,
            },
            status_code=status,
        )

    def signed_in(self, handler: Handler) -> Handler:
        """A page for signed-in people; anyone else is sent to the login page."""
        return self.for_viewer(handler, login_required)

    def signed_in_fragment(self, handler: Handler) -> Handler:
        """A fragment the live feed fetches; without a session it is a bare 401, not a page."""
        return self.for_viewer(handler, lambda _request: Response(status_code=401))

    def for_viewer(self, handler: Handler, refuse: Callable[[Request], Response]) -> Handler:
        """The endpoint FastAPI registers: it finds the person from the session cookie before
        anything else runs, and hands them to the handler as `viewer`. FastAPI reads the route's
        parameters from the signature given here: the handler's own, less `viewer`."""
        signature = inspect.signature(handler, eval_str=True)

        @functools.wraps(handler)
        async def endpoint(request: Request, **params: Any) -> Response:
            viewer = await current_viewer(request, self.ctx)
            if viewer is None:
                return refuse(request)
            return await handler(request, viewer, **params)

        route_params = [p for p in signature.parameters.values() if p.name != "viewer"]
        endpoint.__signature__ = signature.replace(parameters=route_params)  # type: ignore[attr-defined]
        return endpoint

    def problem(self, request: Request, viewer: Viewer, error: OnCallNovaError) -> Response:
        if wants_json(request):
            return JSONResponse(error.to_dict(), status_code=error.status_code)
        return self.page(request, "error.html", viewer, status=error.status_code, error=error)

    async def services_of(self, session: AsyncSession, viewer: Viewer) -> dict[str, Service]:
        """The services this person may see, by id."""
        rows = await repo.list_services(session, viewer.teams)
        return {s.id: s for s in rows}

    async def visible_incident(self, ref: str, viewer: Viewer) -> tuple[Incident, Service]:
        """The incident, if this person may see it (others get the same 404 as a wrong id)."""
        incident = await incidents.find_incident(self.ctx, ref, viewer.principal)
        async with self.ctx.sessions() as session:
            svc = await repo.service_by_id(session, incident.service_id)
        if svc is None:
            raise NotFound(f"no incident {ref!r}", field="id")
        return incident, svc


def wants_json(request: Request) -> bool:
    """A script's request (app.js sends `Accept: application/json`) rather than a form post."""
    return "application/json" in request.headers.get("accept", "")


def team_of(svc: Service | None) -> str | None:
    """The team owning a service (None: no team, or the service is unknown)."""
    return svc.team_id if svc is not None else None


def forbidden() -> OnCallNovaError:
    return Forbidden("your role may not do this here", field="role")


def redirect_back(target: Any, default: str, flash: str) -> RedirectResponse:
    path = views.safe_next(str(target) if target else None, default)
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}flash={flash}", status_code=303)
