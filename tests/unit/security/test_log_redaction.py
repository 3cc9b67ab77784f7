"""Log lines never carry tokens, password hashes or credentials."""

from __future__ import annotations

import json
import logging

import pytest

from oncallnova.logs import JsonFormatter, TextFormatter, redact
from oncallnova.security.passwords import hash_password


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Bearer abc.def-123", "abc.def-123"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl seen", "eyJzdWIiOiJ4In0"),
        ("created ocn_AbCdEfGhIjKlMnOpQrStUv", "ocn_AbCdEfGhIjKlMnOpQrStUv"),
        ("connect nats://producer:hunter2hunter2@127.0.0.1:4222", "hunter2hunter2"),
        ('{"username": "ada", "password": "correct horse"}', "correct"),
        ("?token=s3cr3tfeed&start=x", "s3cr3tfeed"),
    ],
)
def test_redact_removes_the_secret(line: str, secret: str) -> None:
    assert secret not in redact(line)


def test_formatters_redact_messages_and_tracebacks() -> None:
    stored = hash_password("pw-for-the-log-test")
    try:
        raise ValueError(f"bad hash {stored}")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "user %s", (stored,), None)
        import sys

        record.exc_info = sys.exc_info()
    assert stored not in json.loads(JsonFormatter().format(record))["message"]
    assert stored not in json.loads(JsonFormatter().format(record))["exception"]
    assert stored not in TextFormatter("%(message)s").format(record)
