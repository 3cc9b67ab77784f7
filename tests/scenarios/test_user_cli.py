"""`oncallnova user create` and `user reset-password` on the embedded default's database."""

from __future__ import annotations

import io
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import build_parser
from oncallnova.security.passwords import verify_password

pytestmark = pytest.mark.embedded


def run(
    args: list[str], data_dir: Path, capsys: Any, monkeypatch: Any, stdin: str | None = None
) -> tuple[int, str, str]:
    """The command as `oncallnova …` runs it (in this process: start-up is the slow part)."""
    for name in ("DATABASE_URL", "NATS_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
    parsed = build_parser().parse_args([*args, "--data-dir", str(data_dir)])
    code = int(parsed.func(parsed) or 0)
    out, err = capsys.readouterr()
    return code, out, err


def stored(data_dir: Path, username: str) -> tuple[str, str]:
    with sqlite3.connect(data_dir / "oncallnova.db") as db:
        row = db.execute(
            "SELECT role, password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
    return row[0], row[1]


def test_user_create_and_reset_password(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    code, out, err = run(
        ["user", "create", "ada", "--role", "responder", "--password-stdin"],
        tmp_path, capsys, monkeypatch, stdin="a-long-password\n",
    )  # fmt: skip
    assert code == 0, err
    assert "a-long-password" not in out
    role, hashed = stored(tmp_path, "ada")
    assert role == "responder" and verify_password(hashed, "a-long-password")

    code, out, err = run(["user", "reset-password", "ada"], tmp_path, capsys, monkeypatch)
    assert code == 0, err
    generated = out.strip().split()[-1]
    assert verify_password(stored(tmp_path, "ada")[1], generated)
    assert not verify_password(stored(tmp_path, "ada")[1], "a-long-password")

    code, out, err = run(
        ["user", "reset-password", "ada", "--password-stdin"],
        tmp_path, capsys, monkeypatch, stdin="short\n",
    )  # fmt: skip
    assert code == 2 and "password" in err
