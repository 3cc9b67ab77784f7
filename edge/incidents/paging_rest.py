"""REST for what paging leaves behind: the notifications of an incident, the capture inbox, and
the one-click action links of emails (public: the link's signed token is the credential)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from edge.incidents import service
from oncallnova.auth import current_principal
from oncallnova.context import AppContext
from oncallnova.db.models.paging import CapturedMail
from oncallnova.db.repositories import paging as repo
from oncallnova.errors import NotFound
from oncallnova.paging import tokens
from oncallnova.security.principal import SYSTEM, Principal
from oncallnova.security.roles import Role


class NotificationOut(BaseModel):
    id: str
    user_id: str
    channel: str
    address: str
    step: str
    rule_id: str
    status: str
    attempts: int
    message_id: str
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class MailSummary(BaseModel):
    id: int
    message_id: str | None
    mail_from: str
    to: list[str]
    subject: str
    received_at: datetime


class MailOne(MailSummary):
    text: str
    html: str
    raw: str


def _summary(row: CapturedMail) -> dict[str, Any]:
    return {
        "id": row.id,
        "message_id": row.message_id,
        "mail_from": row.mail_from,
        "to": list(row.rcpt_to),
        "subject": row.subject,
        "received_at": row.received_at,
    }


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(tags=["paging"])

    @api.get(
        "/api/v1/incidents/{ref}/notifications",
        response_model=dict[str, list[NotificationOut]],
    )
    async def notifications(
        ref: str, caller: Principal = Depends(current_principal)
    ) -> dict[str, list[NotificationOut]]:
        """Every notification of the incident and where it stands (its attempts are on the
        timeline)."""
        incident = await service.find_incident(ctx, ref, caller)
        async with ctx.sessions() as session:
            rows = await repo.notifications_of(session, incident.id)
        return {
            "notifications": [NotificationOut.model_validate(r, from_attributes=True) for r in rows]
        }

    @api.get("/api/v1/mail", response_model=dict[str, Any])
    async def list_mail(
        to: str | None = Query(default=None, max_length=320),
        limit: int = Query(default=50, ge=1, le=500),
        offset: int = Query(default=0, ge=0, le=1_000_000),
    ) -> dict[str, Any]:
        """The capture inbox (embedded default, no SMTP_HOST), newest first."""
        async with ctx.sessions() as session:
            rows, total = await repo.list_mail(session, to=to, limit=limit, offset=offset)
        return {"messages": [_summary(r) for r in rows], "total": total}

    @api.get("/api/v1/mail/{mail_id}", response_model=MailOne)
    async def get_mail(mail_id: int) -> MailOne:
        async with ctx.sessions() as session:
            row = await session.get(CapturedMail, mail_id)
        if row is None:
            raise NotFound(f"no message {mail_id}", field="mail_id")
        return MailOne(**_summary(row), text=row.text_body, html=row.html_body, raw=row.raw)

    @api.delete("/api/v1/mail", status_code=200)
    async def clear_mail() -> dict[str, int]:
        async with ctx.sessions.begin() as session:
            return {"deleted": await repo.clear_mail(session)}

    async def act(
        request: Request, incident_id: str, action: str, token: str
    ) -> HTMLResponse | JSONResponse:
        now = ctx.clock()
        async with ctx.sessions() as session:
            key = await repo.action_link_key(session, ctx.settings.action_link_secret)
            await session.commit()
        parsed = tokens.verify(key, token, incident_id, action, now)
        # The signed token is the authority here (one incident, one action): no login, no team.
        incident = await service.find_incident(ctx, incident_id, SYSTEM)
        async with ctx.sessions.begin() as session:
            fresh = await repo.use_token(session, parsed.nonce, incident.id, now)
        if not fresh:
            raise tokens.Gone("this link was already used", field="token")
        # Acts as the person the page went to, with the link's authority over this incident only.
        link = Principal(user_id=parsed.user_id or "email_link", role=Role.admin)
        command_id, _ = await service.send_command(ctx, incident.id, action, link)  # type: ignore[arg-type]
        done = "acknowledged" if action == "acknowledge" else "resolved"
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(
                {"status": "accepted", "action": action, "incident_id": incident.id,
                 "command_id": command_id},
                status_code=202,
            )  # fmt: skip
        return HTMLResponse(
            f"<!doctype html><title>Incident #{incident.number} {done}</title>"
            f"<p>Incident #{incident.number} ({incident.title}) is being {done}.</p>",
            status_code=202,
        )

    @api.get("/api/v1/actions/{incident_id}/{action}", include_in_schema=True)
    async def action_link(
        request: Request,
        incident_id: str,
        action: Literal["acknowledge", "resolve"],
        token: str = Query(min_length=10, max_length=1000),
    ) -> Any:
        """The one-click Acknowledge/Resolve link of a page: no login, the token is the key;
        it works once, for its incident and action, for 24 hours."""
        return await act(request, incident_id, action, token)

    @api.post("/api/v1/actions/{incident_id}/{action}")
    async def action_post(
        request: Request,
        incident_id: str,
        action: Literal["acknowledge", "resolve"],
        token: str = Query(min_length=10, max_length=1000),
    ) -> Any:
        """The same, for mail clients that POST one-click links."""
        return await act(request, incident_id, action, token)

    return api
