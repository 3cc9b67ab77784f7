"""Signed one-click action links: valid for one incident, one action, 24 hours, used once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from oncallnova.errors import OnCallNovaError

LIFETIME = timedelta(hours=24)
ACTIONS = ("acknowledge", "resolve")


class Forbidden(OnCallNovaError):
    status_code = 403
    code = "forbidden"


class Gone(OnCallNovaError):
    status_code = 410
    code = "link_used"


@dataclass(frozen=True)
class ActionToken:
    incident_id: str
    action: str
    expires_at: int  # Unix seconds
    nonce: str
    user_id: str = ""  # who was paged with it: the actor on the timeline


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, incident_id: str, action: str, now: datetime, user_id: str = "") -> str:
    """A token for `action` on `incident_id`, valid for 24 hours from `now`."""
    payload = {
        "u": user_id,
        "i": incident_id,
        "a": action,
        "e": int((now + LIFETIME).timestamp()),
        "n": secrets.token_hex(12),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(key: bytes, token: str, incident_id: str, action: str, now: datetime) -> ActionToken:
    """The token's content if it is genuine, for this incident and action, and not expired."""
    try:
        body, mac = token.split(".", 1)
        expected = hmac.new(key, body.encode(), hashlib.sha256).digest()
        genuine = hmac.compare_digest(expected, _unb64(mac))
        payload = json.loads(_unb64(body)) if genuine else None
    except (ValueError, UnicodeDecodeError):
        genuine, payload = False, None
    if not genuine or not isinstance(payload, dict):
        raise Forbidden("the link's token is not valid", field="token")
    parsed = ActionToken(
        incident_id=str(payload.get("i")),
        action=str(payload.get("a")),
        expires_at=int(payload.get("e", 0)),
        nonce=str(payload.get("n")),
        user_id=str(payload.get("u") or ""),
    )
    if parsed.incident_id != incident_id:
        raise Forbidden("the link is for another incident", field="token")
    if parsed.action != action:
        raise Forbidden("the link is for another action", field="token")
    if now.timestamp() >= parsed.expires_at:
        raise Forbidden("the link has expired (links are valid for 24 hours)", field="token")
    return parsed
