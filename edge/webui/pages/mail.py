"""Mail: the capture inbox and one captured message, read from the mail API as the signed-in
person (another edge owns it; it may not be served here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from edge.webui import borrowed
from edge.webui.access import Viewer
from edge.webui.pages.common import Console
from oncallnova.errors import OnCallNovaError

# The REST route the pages are built on (another edge owns it).
MAIL = "/api/v1/mail"


def register(ui: APIRouter, console: Console) -> None:
    @ui.get("/mail", response_class=HTMLResponse)
    @console.signed_in
    async def mail_page(request: Request, viewer: Viewer) -> Response:
        context: dict[str, Any] = {"available": True, "problem": None, "messages": [], "total": 0}
        try:
            inbox = await borrowed.get_json(request, MAIL, {"limit": 100})
            context.update(messages=inbox.get("messages", []), total=inbox.get("total", 0))
        except borrowed.Unavailable:
            context["available"] = False
        except OnCallNovaError as error:
            context["problem"] = error.message
        return console.page(request, "mail.html", viewer, **context)

    @ui.get("/mail/{mail_id}", response_class=HTMLResponse)
    @console.signed_in
    async def mail_message(request: Request, viewer: Viewer, mail_id: int) -> Response:
        try:
            message = await borrowed.get_json(request, f"{MAIL}/{mail_id}")
        except borrowed.Unavailable:
            return console.page(
                request, "mail.html", viewer, available=False, problem=None, messages=[]
            )
        except OnCallNovaError as error:
            return console.problem(request, viewer, error)
        return console.page(request, "mail_message.html", viewer, message=message)
