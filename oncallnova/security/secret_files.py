"""Secrets the embedded default makes for itself, once, in the data dir (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from oncallnova.security.tokens import MIN_SECRET_BYTES
from oncallnova.settings import Settings


class MissingSecret(RuntimeError):
    """Services or distributed mode without a required secret: start must refuse."""


def load_or_create(path: Path, make: str) -> str:
    """The secret in `path`, created with `make` when absent (O_EXCL: two starters agree)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(make + "\n")
    return make


def jwt_secret(settings: Settings) -> bytes:
    """JWT_SECRET, or on the embedded default one generated into the data dir."""
    if settings.jwt_secret is not None:
        value = settings.jwt_secret.get_secret_value().encode()
        if len(value) < MIN_SECRET_BYTES:
            raise MissingSecret(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return value
    if not settings.embedded:
        raise MissingSecret(
            "JWT_SECRET is required in services and distributed mode (at least "
            f"{MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`)"
        )
    return load_or_create(settings.data_dir / "jwt_secret", secrets.token_hex(32)).encode()
