"""`oncallnova user create` and `user reset-password` on the embedded default's database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from oncallnova.security.passwords import verify_password

pytestmark = pytest.mark.embedded
CLI = [sys.executable, "-m", "app.cli"]


def run(
    args: list[str], data_dir: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL", "REDIS_URL")
    }
    return subprocess.run(
        [*CLI, *args, "--data-dir", str(data_dir)],
        env=env, input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def stored(data_dir: Path, username: str) -> tuple[str, str]:
    with sqlite3.connect(data_dir / "oncallnova.db") as db:
        row = db.execute(
            "SELECT role, password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
    return row[0], row[1]


def test_user_create_and_reset_password(tmp_path: Path) -> None:
    made = run(["user", "create", "ada", "--role", "responder", "--password-stdin"], tmp_path,
               stdin="a-long-password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "a-long-password" not in made.stdout
    role, hashed = stored(tmp_path, "ada")
    assert role == "responder" and verify_password(hashed, "a-long-password")

    again = run(["user", "create", "ada"], tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr

    reset = run(["user", "reset-password", "ada"], tmp_path)
    assert reset.returncode == 0, reset.stderr
    generated = reset.stdout.strip().split()[-1]
    assert verify_password(stored(tmp_path, "ada")[1], generated)
    assert not verify_password(stored(tmp_path, "ada")[1], "a-long-password")

    weak = run(["user", "reset-password", "ada", "--password-stdin"], tmp_path, stdin="short\n")
    assert weak.returncode == 2 and "password" in weak.stderr
    assert run(["user", "reset-password", "nobody"], tmp_path).returncode == 1
