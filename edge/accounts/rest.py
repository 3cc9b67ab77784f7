"""REST for accounts: `POST /api/v1/auth/login` (JWT + session cookie), logout, `me`, one's own
password, API tokens for programs, and the audit log for admins."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from oncallnova.auth import CSRF_COOKIE, SESSION_COOKIE, current_principal
from oncallnova.context import AppContext
from oncallnova.db.models.oncall import User
from oncallnova.db.models.security import ApiToken, AuditEntry
from oncallnova.db.types import new_id, utcnow
from oncallnova.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from oncallnova.security.guard import security_of
from oncallnova.security.passwords import hash_password, password_problem, verify_password
from oncallnova.security.principal import Principal
from oncallnova.security.roles import Role
from oncallnova.security.tokens import csrf_token, hash_api_token, new_api_token

Caller = Annotated[Principal, Depends(current_principal)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=320, description="username or email")
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MeOut(BaseModel):
    id: str
    name: str
    email: str
    username: str | None
    role: str
    team_ids: list[str]
    via: Literal["access_token", "api_token"]


class PasswordIn(_In):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class ApiTokenIn(_In):
    name: str = Field(min_length=1, max_length=255)
    role: Literal["admin", "responder", "viewer"] = "viewer"
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiTokenOut(BaseModel):
    id: str
    name: str
    role: str
    user_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="Shown this once; only its hash is kept.")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str | None
    address: str | None
    method: str
    route: str
    path: str
    status: int
    changes: list[dict[str, object]]


class AuditPage(BaseModel):
    entries: list[AuditOut]
    limit: int
    offset: int


def _token_out(row: ApiToken) -> ApiTokenOut:
    return ApiTokenOut.model_validate(row, from_attributes=True)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["accounts"])

    @api.post("/auth/login", response_model=TokenOut)
    async def login(body: LoginIn, request: Request, response: Response) -> TokenOut:
        """Exchange a username (or email) and password for a bearer token; browsers also get
        it as an HttpOnly, SameSite=Strict cookie, with a CSRF token in `oncallnova_csrf`."""
        security = await security_of(ctx)
        _, issued = await security.login(body.username, body.password, client_address(request))
        secure = ctx.settings.cookie_secure or request.url.scheme == "https"
        response.set_cookie(
            SESSION_COOKIE,
            issued.token,
            max_age=issued.expires_in,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )
        response.set_cookie(
            CSRF_COOKIE,
            csrf_token(security.secret, issued.jti),
            max_age=issued.expires_in,
            httponly=False,  # the page reads it and echoes it in X-CSRF-Token
            samesite="strict",
            secure=secure,
            path="/",
        )
        response.headers["Cache-Control"] = "no-store"
        return TokenOut(access_token=issued.token, expires_in=issued.expires_in)

    @api.post("/auth/logout", status_code=204)
    async def logout(caller: Caller, response: Response) -> Response:
        """Revoke this access token until it would have expired, and drop the cookies."""
        await (await security_of(ctx)).revoke(caller)
        answer = Response(status_code=204)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        answer.delete_cookie(CSRF_COOKIE, path="/")
        return answer

    @api.get("/auth/me", response_model=MeOut)
    async def me(caller: Caller) -> MeOut:
        """Who the token belongs to, with the role it acts with."""
        async with ctx.sessions() as session:
            user = await session.get(User, caller.user_id)
        if user is None:
            raise NotAuthenticated("no such user")
        return MeOut(
            id=user.id,
            name=user.name,
            email=user.email,
            username=user.username,
            role=caller.role.name,
            team_ids=sorted(caller.team_ids),
            via="api_token" if caller.api_token_id else "access_token",
        )

    @api.post("/auth/password", status_code=204)
    async def change_password(body: PasswordIn, caller: Caller) -> Response:
        """Change one's own password (the current one is required); every token issued
        before now stops working."""
        problem = password_problem(body.new_password)
        if problem:
            raise InvalidInput(f"new_password: {problem}", field="new_password")
        async with ctx.sessions.begin() as session:
            user = await session.get(User, caller.user_id)
            if user is None or not verify_password(user.password_hash, body.current_password):
                raise Forbidden("current_password: wrong password", field="current_password")
            user.password_hash = hash_password(body.new_password)
            user.password_changed_at = utcnow()
        return Response(status_code=204)

    @api.post("/api_tokens", status_code=201, response_model=ApiTokenCreated)
    async def create_api_token(body: ApiTokenIn, caller: Caller) -> ApiTokenCreated:
        """A long-lived token for a program, acting as you with at most `role` (never more
        than your own). The token is in this answer only."""
        if caller.api_token_id is not None:
            raise Forbidden("an API token cannot create API tokens; log in")
        if Role[body.role] > caller.role:
            raise Forbidden(f"role: cannot exceed your own role ({caller.role.name})", field="role")
        token = new_api_token()
        now = utcnow()
        row = ApiToken(
            id=new_id(),
            user_id=caller.user_id,
            name=body.name,
            role=body.role,
            token_hash=hash_api_token(token),
            created_at=now,
            expires_at=now + timedelta(days=body.expires_in_days) if body.expires_in_days else None,
        )
        async with ctx.sessions.begin() as session:
            session.add(row)
        return ApiTokenCreated(**_token_out(row).model_dump(), token=token)

    @api.get("/api_tokens", response_model=list[ApiTokenOut])
    async def list_api_tokens(caller: Caller) -> list[ApiTokenOut]:
        """Your tokens (an admin sees everyone's); never the tokens themselves."""
        query = select(ApiToken).order_by(ApiToken.created_at)
        if not caller.is_admin:
            query = query.where(ApiToken.user_id == caller.user_id)
        async with ctx.sessions() as session:
            return [_token_out(t) for t in await session.scalars(query)]

    @api.delete("/api_tokens/{token_id}", status_code=204)
    async def revoke_api_token(token_id: str, caller: Caller) -> Response:
        """Revoke a token at once; it stays listed, with `revoked_at`."""
        async with ctx.sessions.begin() as session:
            row = await session.get(ApiToken, token_id[:36])
            if row is None or (row.user_id != caller.user_id and not caller.is_admin):
                raise NotFound(f"no API token {token_id!r}", field="token_id")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
        return Response(status_code=204)

    @api.get("/audit", response_model=AuditPage)
    async def audit(
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
        actor: Annotated[str | None, Query(max_length=255)] = None,
        since: datetime | None = None,
    ) -> AuditPage:
        """Every write, newest first: who, what, before/after, when, from which address."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc())
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if since is not None:
            if since.tzinfo is None:
                raise InvalidInput("since: needs a UTC offset", field="since")
            query = query.where(AuditEntry.at >= since)
        async with ctx.sessions() as session:
            rows = await session.scalars(query.limit(limit).offset(offset))
            entries = [AuditOut.model_validate(r, from_attributes=True) for r in rows]
        return AuditPage(entries=entries, limit=limit, offset=offset)

    return api
