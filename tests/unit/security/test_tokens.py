"""Access tokens accept HS256 with our secret only; secrets made once; the rule table."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from oncallnova.security import secret_files
from oncallnova.security.passwords import hash_password, password_problem, verify_password
from oncallnova.security.principal import Principal
from oncallnova.security.roles import Role
from oncallnova.security.rules import GRPC_RULES, REST_RULES, Rule
from oncallnova.security.tokens import (
    InvalidToken,
    csrf_ok,
    csrf_token,
    decode_access_token,
    issue_access_token,
)
from oncallnova.settings import Settings

SECRET = b"k" * 32
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_issued_token_round_trips_with_its_claims() -> None:
    token, claims = issue_access_token(SECRET, "u1", "responder", NOW, 3600)
    decoded = decode_access_token(SECRET, token, NOW + timedelta(minutes=59))
    assert decoded == claims
    assert (decoded.sub, decoded.role, decoded.exp - decoded.iat) == ("u1", "responder", 3600)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


CLAIMS = {"sub": "u1", "role": "admin", "iat": 1767322000, "exp": 1767322000 + 3600, "jti": "j"}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(CLAIMS)}.", id="alg-none"),
        pytest.param(jwt.encode(CLAIMS, SECRET, algorithm="HS512"), id="hs512"),
        pytest.param(jwt.encode(CLAIMS, b"other" * 8, algorithm="HS256"), id="other-secret"),
        pytest.param(jwt.encode({**CLAIMS, "jti": None}, SECRET), id="claim-missing"),
        pytest.param("not.a.token", id="garbage"),
        pytest.param("", id="empty"),
    ],
)
def test_anything_but_our_hs256_is_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(SECRET, token, datetime.fromtimestamp(CLAIMS["iat"] + 60, UTC))


def test_expired_tokens_are_refused() -> None:
    token, _ = issue_access_token(SECRET, "u1", "viewer", NOW, 60)
    with pytest.raises(InvalidToken):
        decode_access_token(SECRET, token, NOW + timedelta(seconds=60))


def test_csrf_token_is_bound_to_the_session() -> None:
    assert csrf_ok(SECRET, "jti-1", csrf_token(SECRET, "jti-1"))
    assert not csrf_ok(SECRET, "jti-2", csrf_token(SECRET, "jti-1"))
    assert not csrf_ok(SECRET, "jti-1", None)


def test_passwords_are_argon2id_and_checked() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    assert not verify_password(None, "anything")  # no such user: same work, still False
    assert password_problem("short") and password_problem("x" * 300)
    assert password_problem("long enough") is None


def test_embedded_secret_is_made_once_and_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = secret_files.jwt_secret(settings)
    assert len(first) >= 32 and secret_files.jwt_secret(settings) == first
    assert stat.S_IMODE((tmp_path / "jwt_secret").stat().st_mode) == 0o600


def test_services_mode_needs_a_long_enough_secret(tmp_path: Path) -> None:
    services = Settings(data_dir=tmp_path, nats_url="nats://127.0.0.1:4222")
    with pytest.raises(secret_files.MissingSecret, match="JWT_SECRET is required"):
        secret_files.jwt_secret(services)
    short = services.model_copy(update={"jwt_secret": SecretStr("x" * 31)})
    with pytest.raises(secret_files.MissingSecret, match="at least 32 bytes"):
        secret_files.jwt_secret(short)
    assert not (tmp_path / "jwt_secret").exists()


def test_team_scope_decisions() -> None:
    viewer = Principal("v", Role.viewer, frozenset({"a"}))
    responder = Principal("r", Role.responder, frozenset({"a"}))
    admin = Principal("x", Role.admin)
    table = [
        (viewer, "a", True, False),
        (viewer, "b", False, False),
        (viewer, None, True, False),
        (responder, "a", True, True),
        (responder, "b", False, False),
        (responder, None, True, True),
        (admin, "b", True, True),
    ]
    for who, team, sees, acts in table:
        assert (who.sees_team(team), who.acts_for_team(team)) == (sees, acts), (who, team)


def test_rule_table_is_well_formed() -> None:
    for key, rule in {**REST_RULES, **GRPC_RULES}.items():
        assert isinstance(rule, Rule), key
    for key in REST_RULES:
        method, path = key.split(" ", 1)
        assert method in {"GET", "POST", "PUT", "PATCH", "DELETE"} and path.startswith("/"), key
