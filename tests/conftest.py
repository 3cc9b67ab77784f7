"""Shared fixtures: the whole mesh against the machine's real PostgreSQL, Redis and NATS.

Each test session gets its own namespace: a PostgreSQL schema, a subject/stream prefix and a
Redis key prefix, all named `t<random>`, removed at the end. Where a Docker engine runs, the
same fixtures could point at testcontainers; on this machine and in CI the running services
are used (see docs/testing.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from oncallnova.context import AppContext
from tests.helpers import Mesh, bearer_channel, namespaced_mesh


@pytest.fixture(scope="session")
async def mesh() -> AsyncIterator[Mesh]:
    """The whole mesh in services mode, shared by the session (tests use their own services)."""
    async with namespaced_mesh() as started:
        yield started


@pytest.fixture
async def ctx(mesh: Mesh) -> AppContext:
    return mesh.ctx


@pytest.fixture
async def api(mesh: Mesh) -> httpx.AsyncClient:
    return mesh.api


@pytest.fixture
async def service(mesh: Mesh) -> dict[str, str]:
    """A fresh service (id, name, key) so a test sees only its own incidents."""
    return await mesh.create_service()


@pytest.fixture
async def grpc_channel(mesh: Mesh) -> AsyncIterator[grpc.aio.Channel]:
    assert mesh.platform.grpc_port
    # Calls carry the bootstrap admin's token, as a program with an admin token would.
    channel = bearer_channel(f"127.0.0.1:{mesh.platform.grpc_port}", mesh.admin_token)
    yield channel
    await channel.close()
