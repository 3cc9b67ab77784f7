"""Integration fixtures beyond the shared mesh: a real HTTP port, the dead-letter stream and
what the database holds for one service.

The real HTTP port serves the session mesh's own application with uvicorn, so outside
programs (pdpyras, Alertmanager) reach exactly the routes the in-process client does and the
tests can read the outcome through `mesh`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from nats.js.errors import NotFoundError
from sqlalchemy import func, select

from app.http import create_app
from app.supervisor import QuietServer
from oncallnova.db.models.incidents import Alert, ChangeEvent
from schemas.subjects import DLQ
from tests.helpers import Mesh, namespaced_mesh
from tests.integration.copies import copies  # noqa: F401 (a fixture)


@pytest.fixture
async def idle_mesh() -> AsyncIterator[Mesh]:
    """Streams and consumers provisioned, database migrated, no worker consuming: the test
    drives workers itself. One per test, so each test's consumers see only its messages."""
    async with namespaced_mesh(workers=[], edges=["incidents"]) as mesh:
        yield mesh


@pytest.fixture(scope="session")
async def http_base(mesh: Mesh) -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>`: the mesh's HTTP app on a real loopback socket."""
    app = create_app(mesh.ctx, mesh.platform.edge_names, platform=mesh.platform)
    server = QuietServer(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_keep_alive=5)
    )
    # Bound here and handed over, so no other process can take the port in between.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.02)
        if task.done():
            task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


@pytest.fixture
async def http(mesh: Mesh, http_base: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the real port (no proxies from the environment), as the admin."""
    async with httpx.AsyncClient(
        base_url=http_base,
        trust_env=False,
        timeout=10,
        headers={"Authorization": f"Bearer {mesh.admin_token}"},
    ) as client:
        yield client


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    subject: str
    headers: dict[str, str]
    data: bytes


class DeadLetters:
    """The fingerprinter's dead letters in the mesh's DLQ stream."""

    def __init__(self, mesh: Mesh) -> None:
        self.js = mesh.ctx.bus.js
        self.stream = mesh.ctx.bus.stream("DLQ")
        self.subject = DLQ.subject("fingerprinter", ns=mesh.ctx.bus.ns)

    async def mark(self) -> int:
        """The stream's last sequence now; `since(mark)` reads what arrives after it."""
        info = await self.js.stream_info(self.stream)
        return int(info.state.last_seq)

    async def since(self, mark: int) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        seq = mark + 1
        while True:
            try:
                raw = await self.js.get_msg(self.stream, seq=seq, subject=self.subject, next=True)
            except NotFoundError:
                return letters
            assert raw.seq is not None
            letters.append(
                DeadLetter(raw.seq, raw.subject or "", dict(raw.headers or {}), raw.data or b"")
            )
            seq = raw.seq + 1


@pytest.fixture
def dead_letters(mesh: Mesh) -> DeadLetters:
    return DeadLetters(mesh)


@dataclass(frozen=True)
class Stored:
    alerts: int
    change_events: int


class StoredCounts:
    """How many alerts and change events the database holds for one service."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh

    async def __call__(self, service_id: str) -> Stored:
        async with self.mesh.ctx.sessions() as session:
            alerts = await session.scalar(
                select(func.count()).select_from(Alert).where(Alert.service_id == service_id)
            )
            changes = await session.scalar(
                select(func.count())
                .select_from(ChangeEvent)
                .where(ChangeEvent.service_id == service_id)
            )
        return Stored(alerts=int(alerts or 0), change_events=int(changes or 0))


@pytest.fixture
def stored(mesh: Mesh) -> StoredCounts:
    return StoredCounts(mesh)
