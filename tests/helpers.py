"""Helpers shared by the test suites: namespaces, the mesh, waiting, sample bodies."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import nats
from app.http import create_app
from app.supervisor import Platform
from oncallnova.context import AppContext
from oncallnova.db.repositories import incidents as repo
from oncallnova.settings import Settings
from tests.broker import nats_url

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ALL_EDGES = ["ingestion", "incidents", "oncall", "exporter", "webui"]
# Test deployments sign tokens with this and bootstrap `admin` with this password.
TEST_JWT_SECRET = "test-jwt-secret-" + "0123456789abcdef" * 2
TEST_ADMIN_PASSWORD = "test-admin-password"


def __getattr__(name: str) -> Any:
    # `NATS_URL` was a constant; it is now the session's server, started on first use.
    if name == "NATS_URL":
        return nats_url()
    raise AttributeError(name)


ALL_WORKERS = ["fingerprinter", "correlator", "lifecycle", "metrics", "metrics_alerts"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_namespace() -> str:
    return "t" + secrets.token_hex(5)


def services_settings(ns: str, **overrides: Any) -> Settings:
    """Services mode on the machine's PostgreSQL, Redis and NATS, isolated by `ns`."""
    values: dict[str, Any] = {
        "database_url": PG_URL,
        "database_schema": ns,
        "redis_url": REDIS_URL,
        "nats_url": nats_url(),
        "nats_namespace": ns,
        "grpc_port": free_port(),
        "fetch_batch": 256,
        "jwt_secret": TEST_JWT_SECRET,
        "oncallnova_admin_password": TEST_ADMIN_PASSWORD,
        # The whole suite logs in from 127.0.0.1, many times a minute; the tests of the login
        # limits run an app of their own with low limits.
        "login_rate_per_ip": 10_000,
    }
    values.update(overrides)
    return Settings(**values)


async def drop_namespace(ns: str) -> None:
    """Remove a test namespace's schema, streams and Redis keys."""
    engine = create_async_engine(PG_URL)
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE'))
    await engine.dispose()
    nc = await nats.connect(nats_url())
    js = nc.jetstream()
    for name in await js.streams_info():
        if name.config.name.startswith(f"{ns.upper()}_") or name.config.name.startswith(
            f"KV_{ns}_"
        ):
            await js.delete_stream(name.config.name)
    await nc.close()
    redis = Redis.from_url(REDIS_URL)
    keys = [k async for k in redis.scan_iter(f"{ns}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


class BearerInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call of a channel."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        metadata = list(client_call_details.metadata or ())
        metadata.append(("authorization", f"Bearer {self.token}"))
        details = client_call_details._replace(metadata=metadata)
        return await continuation(details, request)


def bearer_channel(target: str, token: str | None) -> grpc.aio.Channel:
    """A gRPC channel whose calls carry `token` (none when None)."""
    interceptors = [BearerInterceptor(token)] if token else None
    return grpc.aio.insecure_channel(target, interceptors=interceptors)


async def login(api: httpx.AsyncClient, username: str, password: str) -> str:
    """An access token from `POST /api/v1/auth/login`."""
    response = await api.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class Mesh:
    """A running platform plus the clients a test talks to it with. `api` carries the
    bootstrap admin's token; `anonymous` carries none; `client_for(token)` another's."""

    def __init__(
        self, platform: Platform, ctx: AppContext, api: httpx.AsyncClient, app: Any = None
    ) -> None:
        self.platform = platform
        self.ctx = ctx
        self.api = api
        self.app = app
        self.admin_token = ""
        self.admin_id = ""

    @property
    def anonymous(self) -> httpx.AsyncClient:
        return self.client_for(None)

    def client_for(self, token: str | None) -> httpx.AsyncClient:
        """An in-process client carrying `token` (or none); close it, or use `async with`."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://oncallnova",
            headers=headers,
        )

    async def create_user(
        self, role: str = "viewer", team_ids: list[str] | None = None, password: str | None = None
    ) -> str:
        """A user with `role`, member of `team_ids`; its id. No password unless given
        (hashing costs time; tokens come from `token_for`)."""
        from oncallnova.db.models.oncall import TeamMembership
        from oncallnova.db.repositories import oncall as people
        from oncallnova.security.passwords import hash_password

        suffix = secrets.token_hex(4)
        async with self.ctx.sessions.begin() as session:
            user = await people.create_user(
                session,
                name=f"{role} {suffix}",
                email=f"{role}-{suffix}@example.com",
                time_zone="UTC",
                contact_methods=[],
                username=f"{role}-{suffix}",
                role=role,
                password_hash=hash_password(password) if password else None,
            )
            for team_id in team_ids or []:
                session.add(TeamMembership(team_id=team_id, user_id=user.id))
        return user.id

    async def create_team(self, name: str | None = None) -> str:
        from oncallnova.db.repositories import oncall as people

        async with self.ctx.sessions.begin() as session:
            team = await people.create_team(
                session,
                name=name or f"team-{secrets.token_hex(4)}",
                description=None,
                member_ids=[],
            )
        return team.id

    async def token_for(self, user_id: str) -> str:
        """An access token for `user_id`, signed as a login would sign it."""
        from oncallnova.security.guard import security_of

        security = await security_of(self.ctx)
        async with self.ctx.sessions() as session:
            from oncallnova.db.models.oncall import User

            user = await session.get(User, user_id)
            assert user is not None
            role = user.role
        return security.issue(user_id, role).token

    async def create_service(
        self, name: str | None = None, team_id: str | None = None
    ) -> dict[str, str]:
        async with self.ctx.sessions.begin() as session:
            service = await repo.create_service(
                session, name or f"svc-{secrets.token_hex(4)}", team_id=team_id
            )
        return {"id": service.id, "name": service.name, "key": service.integration_key}

    async def incidents(self, service_id: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.api.get(
            "/api/v1/incidents", params={"service_id": service_id, "limit": 500, **params}
        )
        assert response.status_code == 200, response.text
        return response.json()["incidents"]


async def start_mesh(
    settings: Settings, workers: list[str] | None = None, edges: list[str] | None = None
) -> Mesh:
    platform = Platform(
        settings,
        ALL_WORKERS if workers is None else workers,
        ALL_EDGES if edges is None else edges,
        serve_http=False,
    )
    ctx = await platform.start()
    app = create_app(ctx, platform.edge_names, platform=platform)
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oncallnova")
    mesh = Mesh(platform, ctx, api, app)
    if platform.edge_names:
        # The bootstrap admin, logged in the way a person would.
        mesh.admin_token = await login(api, "admin", TEST_ADMIN_PASSWORD)
        api.headers["Authorization"] = f"Bearer {mesh.admin_token}"
        mesh.admin_id = (await api.get("/api/v1/auth/me")).json()["id"]
    return mesh


async def stop_mesh(mesh: Mesh) -> None:
    await mesh.api.aclose()
    await mesh.platform.stop()


@asynccontextmanager
async def namespaced_mesh(
    workers: list[str] | None = None, edges: list[str] | None = None
) -> AsyncIterator[Mesh]:
    """A mesh in a namespace of its own, removed (schema, streams, keys) when it ends."""
    ns = new_namespace()
    mesh = await start_mesh(services_settings(ns), workers, edges)
    try:
        yield mesh
    finally:
        await stop_mesh(mesh)
        await drop_namespace(ns)


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.05
) -> Any:
    """Poll `check` until it returns a truthy value (returned) or time runs out (fails).

    The default is generous on purpose: it ends as soon as the condition holds, and on a loaded
    2-core machine a trip through the mesh can take many seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def pd_event(
    key: str, action: str = "trigger", dedup_key: str | None = None, **payload: Any
) -> dict:
    """A PagerDuty Events v2 body as pdpyras sends it."""
    body: dict[str, Any] = {"routing_key": key, "event_action": action}
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    if action == "trigger":
        body["payload"] = {
            "summary": "CPU high",
            "source": "web-1",
            "severity": "critical",
            **payload,
        }
    return body


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def api_auth_headers(base: str) -> dict[str, str]:
    """Headers that let a test client call the REST API of the platform at `base`: the
    bootstrap admin's bearer token (the platform was started with `TEST_ADMIN_PASSWORD`)."""
    answer = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"username": "admin", "password": TEST_ADMIN_PASSWORD},
        timeout=30,
        trust_env=False,
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120.0
) -> tuple[int, str, str]:
    """`oncallnova ARGS` in a subprocess, awaited so this process's workers keep running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return int(process.returncode or 0), out.decode(), err.decode()
