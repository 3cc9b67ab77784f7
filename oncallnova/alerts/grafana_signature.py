"""Grafana's optional webhook HMAC: is this body really from the Grafana holding our secret?

Grafana signs with hex HMAC-SHA256 of the raw body, or of `<timestamp>:<body>` when its
contact point also sends a timestamp header (which lets a receiver refuse replays). The
signature header is configurable; `X-Grafana-Alerting-Signature` by default.
"""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"


def grafana_signature(secret: str | bytes, body: bytes, timestamp: str | None = None) -> str:
    """The hex HMAC-SHA256 Grafana sends for `body` (and `timestamp`, when it sends one)."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = body if timestamp is None else timestamp.encode() + b":" + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_grafana_signature(
    secret: str | bytes, body: bytes, signature: str | None, timestamp: str | None = None
) -> bool:
    """True when `signature` is Grafana's HMAC of this exact body; compared in constant time."""
    if not signature:
        return False
    # Hex is case-insensitive; tolerate a "sha256=" prefix some proxies and tools add.
    presented = signature.strip().lower().removeprefix("sha256=")
    expected = grafana_signature(secret, body, timestamp)
    return hmac.compare_digest(presented.encode(), expected.encode())
