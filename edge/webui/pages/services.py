"""Services: the list with open counts, one service's page (escalation policy, recent incidents,
integration snippets) and the rotation of its integration key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from edge.incidents.services_rest import RotateIn
from edge.webui import access
from edge.webui.access import Viewer
from edge.webui.pages.common import OPEN, Console, forbidden
from edge.webui.session import check_csrf, csrf_of
from edge.webui.snippets import snippets
from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo
from oncallnova.db.repositories import oncall as oncall_repo
from oncallnova.errors import NotFound, OnCallNovaError


def register(ui: APIRouter, console: Console) -> None:
    ctx = console.ctx

    @ui.get("/services", response_class=HTMLResponse)
    @console.signed_in
    async def services_page(request: Request, viewer: Viewer) -> Response:
        async with ctx.sessions() as session:
            visible = await console.services_of(session, viewer)
            policies = {p.id: p for p in await oncall_repo.list_policies(session)}
            open_counts = {}
            for sid in visible:
                _, open_counts[sid] = await repo.list_incidents(
                    session, limit=1, offset=0, statuses=OPEN, service_ids=[sid]
                )
        return console.page(
            request,
            "services.html",
            viewer,
            services=sorted(visible.values(), key=lambda s: s.name.lower()),
            policies=policies,
            open_counts=open_counts,
        )

    @ui.get("/services/{service_id}", response_class=HTMLResponse)
    @console.signed_in
    async def service_page(request: Request, viewer: Viewer, service_id: str) -> Response:
        async with ctx.sessions() as session:
            svc = await repo.service_by_id(session, service_id[:36])
            if svc is None or not access.can_see(viewer, svc.team_id):
                return console.problem(
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
        return console.page(
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
    @console.signed_in
    async def rotate_key(
        request: Request, viewer: Viewer, service_id: str, csrf_token: str = Form("")
    ) -> Response:
        try:
            await check_csrf(ctx, viewer, csrf_of(csrf_token, request))
            if not access.can_manage_services(viewer):
                raise forbidden()
            async with ctx.sessions.begin() as session:
                await repo.rotate_integration_key(
                    session, service_id[:36], RotateIn().overlap_seconds, ctx.clock()
                )
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        return RedirectResponse(f"/services/{service_id}?reveal=1&flash=rotated", status_code=303)


def nats_url(ctx: AppContext) -> str:
    """The broker this platform uses, as a producer would dial it."""
    url = ctx.bus.nc.connected_url
    return f"nats://{url.hostname}:{url.port}" if url and url.hostname else "nats://127.0.0.1:4222"
