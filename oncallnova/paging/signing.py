"""Webhook signatures: PagerDuty's `X-PagerDuty-Signature` and Standard Webhooks v1."""

from __future__ import annotations

import base64
import hashlib
import hmac


def pagerduty_signature(secret: str, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256 of the raw body>`, as PagerDuty v3 webhooks carry it."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` (Standard Webhooks).

    A `whsec_` secret is base64 (the spec's form); any other string is used as its bytes."""
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every signature header of one delivery."""
    return {
        "X-PagerDuty-Signature": pagerduty_signature(secret, body),
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, msg_id, timestamp, body),
    }
