"""Access tokens (JWT HS256), API tokens for programs, CSRF tokens: making and checking them.

Pure functions of a secret and a clock; no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt

ALGORITHM = "HS256"
# API tokens carry a prefix so they are told from JWTs without parsing, and found by scanners.
API_TOKEN_PREFIX = "ocn_"
MIN_SECRET_BYTES = 32


class InvalidToken(Exception):
    """The token is malformed, badly signed, of another algorithm, or expired."""


@dataclass(frozen=True)
class Claims:
    sub: str
    role: str
    iat: int
    exp: int
    jti: str


def issue_access_token(
    secret: bytes, user_id: str, role: str, now: datetime, expiry_s: float
) -> tuple[str, Claims]:
    """A signed JWT with sub, role, iat, exp and a fresh jti."""
    iat = int(now.timestamp())
    claims = Claims(sub=user_id, role=role, iat=iat, exp=iat + int(expiry_s), jti=uuid.uuid4().hex)
    token = jwt.encode(claims.__dict__, secret, algorithm=ALGORITHM)
    return token, claims


def decode_access_token(secret: bytes, token: str, now: datetime) -> Claims:
    """The claims of a valid token; raises InvalidToken otherwise. Only HS256 is accepted:
    `alg: none` and every other algorithm fail here, whatever the token's header says."""
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            # Expiry is checked below against the given clock, not pyjwt's.
            options={
                "require": ["sub", "role", "iat", "exp", "jti"],
                "verify_iat": False,
                "verify_exp": False,
            },
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(type(error).__name__) from None
    if int(data["exp"]) <= int(now.timestamp()):
        raise InvalidToken("expired")
    try:
        return Claims(
            sub=str(data["sub"]),
            role=str(data["role"]),
            iat=int(data["iat"]),
            exp=int(data["exp"]),
            jti=str(data["jti"]),
        )
    except (TypeError, ValueError):
        raise InvalidToken("bad claims") from None


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """API tokens have 256 bits of entropy: a plain SHA-256 is enough (no brute force to slow)."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(secret: bytes, jti: str) -> str:
    """The CSRF token bound to one session: a browser must echo it in `X-CSRF-Token`."""
    return hmac.new(secret, b"csrf:" + jti.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, jti: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token(secret, jti), presented)


def same_secret(expected: str, presented: str | None) -> bool:
    """Constant-time comparison of two secrets (integration keys, the metrics token)."""
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())
