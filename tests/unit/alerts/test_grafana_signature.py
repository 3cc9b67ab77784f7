"""Grafana's optional webhook HMAC (oncallnova.alerts.grafana_signature)."""

from __future__ import annotations

import pytest

from oncallnova.alerts.grafana_signature import grafana_signature, verify_grafana_signature

SECRET = "s3cr3t"
BODY = b'{"status":"firing"}'
# Both computed with `openssl dgst -sha256 -hmac s3cr3t`.
SIGNED_BODY = "28a683a6144fb7c3f590b19d8b8c9082c07af22f920df265175758c7c0a749ec"
SIGNED_TIMESTAMP_AND_BODY = "7eea5c4034630c60690794a6b33dc3d7c9be1e7878232cf5e201cb21f6c5e743"
TIMESTAMP = "1715678100"


def test_signature_is_hex_hmac_sha256_of_body_or_timestamp_and_body() -> None:
    assert grafana_signature(SECRET, BODY) == SIGNED_BODY
    assert grafana_signature(SECRET.encode(), BODY, TIMESTAMP) == SIGNED_TIMESTAMP_AND_BODY


@pytest.mark.parametrize(
    ("secret", "body", "signature", "timestamp", "valid"),
    [
        (SECRET, BODY, SIGNED_BODY, None, True),
        (SECRET, BODY, SIGNED_BODY.upper(), None, True),
        (SECRET, BODY, f"sha256={SIGNED_BODY}", None, True),
        (SECRET, BODY, SIGNED_TIMESTAMP_AND_BODY, TIMESTAMP, True),
        (SECRET, BODY + b" ", SIGNED_BODY, None, False),  # body changed in transit
        ("other", BODY, SIGNED_BODY, None, False),
        (SECRET, BODY, SIGNED_BODY, TIMESTAMP, False),  # timestamp not covered
        (SECRET, BODY, SIGNED_TIMESTAMP_AND_BODY, "1715678101", False),  # timestamp replaced
        (SECRET, BODY, None, None, False),
        (SECRET, BODY, "", None, False),
        (SECRET, BODY, SIGNED_BODY[:-1], None, False),
    ],
)
def test_verify(
    secret: str, body: bytes, signature: str | None, timestamp: str | None, valid: bool
) -> None:
    assert verify_grafana_signature(secret, body, signature, timestamp) is valid
