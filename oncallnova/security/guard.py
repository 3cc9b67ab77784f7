"""The process's security service: checks tokens, logs people in and out, rate-limits.

One per process (`security_of(ctx)`), shared by the REST dependency and the gRPC interceptor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select

from oncallnova.context import AppContext
from oncallnova.db.models.oncall import TeamMembership, User
from oncallnova.db.models.security import ApiToken
from oncallnova.db.types import utcnow
from oncallnova.errors import NotAuthenticated, TooManyRequests
from oncallnova.security import secret_files
from oncallnova.security.passwords import verify_password
from oncallnova.security.principal import Principal
from oncallnova.security.roles import Role
from oncallnova.security.stores import (
    KvRevocations,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    RedisRevocations,
    Revocations,
)
from oncallnova.security.tokens import (
    API_TOKEN_PREFIX,
    InvalidToken,
    decode_access_token,
    hash_api_token,
    issue_access_token,
)

LOGIN_WINDOW_S = 60
# One message for every failed login, so the answer does not tell which part was wrong.
BAD_LOGIN = "wrong username or password"


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int
    jti: str


class Security:
    def __init__(
        self,
        ctx: AppContext,
        secret: bytes,
        revocations: Revocations,
        shared_limiter: RateLimiter,
    ) -> None:
        self.ctx = ctx
        self.secret = secret
        self.revocations = revocations
        # Logins count across processes when Redis is configured.
        self.login_limiter = shared_limiter

    @classmethod
    async def create(cls, ctx: AppContext) -> Security:
        settings = ctx.settings
        secret = secret_files.jwt_secret(settings)
        revocations: Revocations
        limiter: RateLimiter
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url)
            prefix = f"{settings.nats_namespace or 'oncallnova'}:"
            revocations = RedisRevocations(redis, prefix + "revoked:")
            limiter = RedisRateLimiter(redis, prefix + "rate:")
        else:
            kv = await ctx.bus.js.key_value(ctx.bus.bucket("revoked_tokens"))
            revocations = KvRevocations(kv)
            limiter = MemoryRateLimiter()
        return cls(ctx, secret, revocations, limiter)

    # --- tokens ---------------------------------------------------------------------------

    def issue(self, user_id: str, role: str) -> Issued:
        expiry = self.ctx.settings.jwt_expiry
        token, claims = issue_access_token(self.secret, user_id, role, utcnow(), expiry)
        return Issued(token=token, expires_in=int(expiry), jti=claims.jti)

    async def authenticate(self, token: str, *, via_cookie: bool = False) -> Principal:
        """The principal behind a bearer token (access token or API token); raises
        NotAuthenticated for anything else."""
        if token.startswith(API_TOKEN_PREFIX):
            return await self._api_token(token)
        try:
            claims = decode_access_token(self.secret, token, utcnow())
        except InvalidToken:
            raise NotAuthenticated("invalid or expired token") from None
        if await self.revocations.is_revoked(claims.jti):
            raise NotAuthenticated("token revoked (logged out)")
        user = await self._user(claims.sub)
        if user is None:
            raise NotAuthenticated("invalid or expired token")
        role, changed_at, teams = user
        if changed_at is not None and claims.iat < int(changed_at.timestamp()):
            raise NotAuthenticated("token issued before the last password change")
        # The role stored now, not the one in the token: a demotion takes effect at once.
        return Principal(
            user_id=claims.sub,
            role=Role.parse(role),
            team_ids=teams,
            jti=claims.jti,
            token_expires=claims.exp,
            via_cookie=via_cookie,
        )

    async def _user(self, user_id: str) -> tuple[str, datetime | None, frozenset[str]] | None:
        async with self.ctx.sessions() as session:
            rows = (
                await session.execute(
                    select(User.role, User.password_changed_at, TeamMembership.team_id)
                    .outerjoin(TeamMembership, TeamMembership.user_id == User.id)
                    .where(User.id == user_id)
                )
            ).all()
        if not rows:
            return None
        teams = frozenset(r.team_id for r in rows if r.team_id is not None)
        return rows[0].role, rows[0].password_changed_at, teams

    async def _api_token(self, token: str) -> Principal:
        now = utcnow()
        async with self.ctx.sessions() as session:
            found = await session.scalar(
                select(ApiToken).where(ApiToken.token_hash == hash_api_token(token))
            )
            if (
                found is None
                or found.revoked_at is not None
                or (found.expires_at is not None and found.expires_at <= now)
            ):
                raise NotAuthenticated("invalid, expired or revoked API token")
            token_role, user_id, token_id = found.role, found.user_id, found.id
        user = await self._user(user_id)
        if user is None:
            raise NotAuthenticated("invalid, expired or revoked API token")
        role, _, teams = user
        # A token never has more than its user has now.
        effective = min(Role.parse(token_role), Role.parse(role))
        return Principal(user_id=user_id, role=effective, team_ids=teams, api_token_id=token_id)

    async def revoke(self, principal: Principal) -> None:
        if principal.jti is None or principal.token_expires is None:
            return
        left = principal.token_expires - utcnow().timestamp()
        if left > 0:
            await self.revocations.revoke(principal.jti, left)

    # --- logins ---------------------------------------------------------------------------

    async def login(self, login: str, password: str, address: str) -> tuple[User, Issued]:
        """Check a username (or email) and password; raises TooManyRequests past the limits
        and NotAuthenticated for a wrong pair."""
        settings = self.ctx.settings
        count, left = await self.login_limiter.add(f"login-ip:{address}", LOGIN_WINDOW_S)
        if count > settings.login_rate_per_ip:
            raise TooManyRequests("too many login attempts from this address", retry_after=left)
        name_key = f"login-user:{login.strip().lower()[:320]}"
        failures, left = await self.login_limiter.count(name_key, LOGIN_WINDOW_S)
        if failures >= settings.login_failures_per_username:
            raise TooManyRequests(
                "too many failed logins for this user", retry_after=left, field="username"
            )
        async with self.ctx.sessions() as session:
            user = await session.scalar(
                select(User).where((User.username == login) | (User.email == login))
            )
        # verify_password spends the same time whether or not the user exists.
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok:
            await self.login_limiter.add(name_key, LOGIN_WINDOW_S)
            raise NotAuthenticated(BAD_LOGIN)
        return user, self.issue(user.id, user.role)


async def security_of(ctx: AppContext) -> Security:
    """The process's Security, made on first use (two first uses at once make two, and the
    second wins: both are equivalent)."""
    found = ctx.extras.get("security")
    if found is None:
        found = await Security.create(ctx)
        ctx.extras["security"] = found
    return found  # type: ignore[no-any-return]


def expires_at(issued: Issued, now: datetime) -> datetime:
    return now + timedelta(seconds=issued.expires_in)
