"""On-call integration fixtures: a migrated PostgreSQL schema of its own, the on-call edge's
REST routes in the real application factory, and its gRPC servicer on a local port.

These need only PostgreSQL (no NATS or Redis), so the on-call tests stay fast and run while
the rest of the mesh is in pieces. The schema is dropped at the end of the session.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.http import create_app
from app.supervisor import grpc_server
from edge.oncall.grpc import add_to_server
from oncallnova.context import AppContext
from oncallnova.db import migrate
from oncallnova.db.engine import create_engine, create_sessions
from oncallnova.security.bootstrap import ensure_bootstrap_admin
from oncallnova.settings import Settings
from tests.helpers import (
    REDIS_URL,
    TEST_ADMIN_PASSWORD,
    TEST_JWT_SECRET,
    bearer_channel,
    login,
)

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass
class Clock:
    """A clock tests can set; the edge reads "now" only through it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class OnCallEdge:
    ctx: AppContext
    clock: Clock
    api: httpx.AsyncClient
    grpc: grpc.aio.Channel
    engine: AsyncEngine


@pytest.fixture(scope="session")
async def oncall_edge() -> AsyncIterator[OnCallEdge]:
    schema = "oc" + secrets.token_hex(5)
    settings = Settings(
        database_url=PG_URL,
        database_schema=schema,
        redis_url=REDIS_URL,  # the token deny-list
        nats_namespace=schema,
        jwt_secret=TEST_JWT_SECRET,
        oncallnova_admin_password=TEST_ADMIN_PASSWORD,
    )
    engine = create_engine(settings)
    await migrate.upgrade(engine, schema)
    await ensure_bootstrap_admin(create_sessions(engine), settings)
    clock = Clock(datetime(2024, 3, 27, 11, 30, tzinfo=UTC))
    bus: Any = None  # the on-call edge publishes nothing
    ctx = AppContext(
        settings=settings, engine=engine, sessions=create_sessions(engine), bus=bus, clock=clock
    )
    app = create_app(ctx, ["oncall"])
    server = grpc_server(ctx)
    add_to_server(server, ctx)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://oncall.test") as api:
        # Tests act as the bootstrap admin, logged in as a person would.
        token = await login(api, "admin", TEST_ADMIN_PASSWORD)
        api.headers["Authorization"] = f"Bearer {token}"
        channel = bearer_channel(f"127.0.0.1:{port}", token)
        yield OnCallEdge(ctx, clock, api, channel, engine)
    await channel.close()
    await server.stop(None)
    await engine.dispose()
    admin = create_async_engine(PG_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await admin.dispose()


@pytest.fixture
async def edge(oncall_edge: OnCallEdge) -> OnCallEdge:
    return oncall_edge


@pytest.fixture
def unique() -> str:
    """A suffix that keeps names and emails unique across tests sharing the schema."""
    return secrets.token_hex(4)
