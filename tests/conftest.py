"""Shared fixtures: the whole mesh against the machine's real PostgreSQL and Redis and the
bundled nats-server (tests/broker.py).

Each test session gets its own namespace: a PostgreSQL schema, a subject/stream prefix and a
Redis key prefix, all named `t<random>`, removed at the end. A laptop with Docker and without
these services gets them from testcontainers (tests/containers.py); on this machine and in CI
the running services are used (see docs/testing.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest

from tests import containers

# Before tests.helpers reads the TEST_*_URLs: containers only where a service is missing and a
# Docker engine answers (never on this project's machines, which run the services themselves).
containers.provide()

from oncallnova.context import AppContext  # noqa: E402
from tests import broker  # noqa: E402
from tests.helpers import Mesh, bearer_channel, namespaced_mesh  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def nats_server() -> Iterator[str]:
    """The session's nats-server (>= 2.11, its own port and store), stopped at the end."""
    yield broker.nats_url()
    broker.stop()


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
