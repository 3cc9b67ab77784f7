"""A page as an email: subject, plain text and HTML from Jinja2 templates, stable Message-ID."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from oncallnova.paging.tokens import LIFETIME
from schemas.incident_v1 import IncidentV1

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html.j2"]),
    keep_trailing_newline=True,
)
MAX_DETAIL = 500


def message_id(notification_id: str, sender: str) -> str:
    """The same Message-ID for every attempt of one notification."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "oncallnova.local"
    return f"<{hashlib.sha256(notification_id.encode()).hexdigest()[:40]}@{domain}>"


def action_url(public_url: str, incident_id: str, action: str, token: str) -> str:
    """The one-click link: `/api/v1/actions/<incident>/<action>?token=…`."""
    return f"{public_url.rstrip('/')}/api/v1/actions/{incident_id}/{action}?token={quote(token)}"


def _details(details: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in list(details.items())[:30]:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append((str(key), text[:MAX_DETAIL]))
    return rows


def build(
    *,
    incident: IncidentV1,
    service: str,
    reason: str,
    alert_summary: str,
    alert_details: dict[str, Any],
    public_url: str,
    tokens: dict[str, str],
    now: datetime,
    sender: str,
    to: str,
    notification_id: str,
) -> EmailMessage:
    """The email for one notification."""
    base = public_url.rstrip("/")
    values = {
        "incident": incident,
        "service": service,
        "reason": reason,
        "urgency_label": "URGENT" if incident.urgency == "high" else "Low-urgency",
        "when": incident.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "alert_summary": alert_summary,
        "details": _details(alert_details),
        "incident_url": f"{base}/#/incidents/{incident.id}",
        "acknowledge_url": action_url(base, incident.id, "acknowledge", tokens["acknowledge"]),
        "resolve_url": action_url(base, incident.id, "resolve", tokens["resolve"]),
        "expires": (now + LIFETIME).strftime("%Y-%m-%d %H:%M UTC"),
    }
    message = EmailMessage()
    message["Subject"] = (
        f"[OnCallNova] #{incident.number} {incident.title[:150]} "
        f"({service}, {incident.severity}, {incident.status})"
    )
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(notification_id, sender)
    message["X-OnCallNova-Incident"] = incident.id
    message["X-OnCallNova-Notification"] = notification_id
    message.set_content(_TEMPLATES.get_template("page.txt.j2").render(values))
    message.add_alternative(_TEMPLATES.get_template("page.html.j2").render(values), subtype="html")
    return message
