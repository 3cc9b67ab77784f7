"""Services mode will not start an edge without a signing secret of at least 32 bytes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import NATS_URL, PG_URL, REDIS_URL, free_port


@pytest.mark.parametrize("secret", [None, "too-short-a-secret"])
def test_up_refuses_to_start_without_a_usable_jwt_secret(secret: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    env.update(DATABASE_URL=PG_URL, NATS_URL=NATS_URL, REDIS_URL=REDIS_URL, LOG_FORMAT="text")
    if secret is not None:
        env["JWT_SECRET"] = secret
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "up", "--port", str(free_port()),
         "--grpc-port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "JWT_SECRET" in result.stderr and "32 bytes" in result.stderr
    assert "OnCallNova is running" not in result.stdout
