"""Paging test kit: a mesh with the paging workers on a settable clock, a real SMTP server
(aiosmtpd) and a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP

from tests.helpers import (
    ALL_WORKERS,
    Mesh,
    drop_namespace,
    eventually,
    new_namespace,
    services_settings,
    start_mesh,
    stop_mesh,
)

PAGING_WORKERS = [*ALL_WORKERS, "escalator", "notifier", "webhook_fanout", "webhooker"]


@dataclass
class Clock:
    """The platform's clock, moved by tests (`AppContext.clock`)."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Mail:
    to: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""


class SmtpServer:
    """A real SMTP server on loopback. A message counts once its 250 is on its way: with
    `delays`, the n-th message waits that long first, and one whose client hung up meanwhile
    is dropped, as a real MTA drops a message it never confirmed."""

    def __init__(self) -> None:
        self.received: list[Mail] = []
        self.delays: list[float] = []
        self.port = 0
        self.server: asyncio.Server | None = None
        self._seen = 0

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:  # noqa: N802
        index, self._seen = self._seen, self._seen + 1
        if index < len(self.delays):
            await asyncio.sleep(self.delays[index])
            if server.transport is None or server.transport.is_closing():
                return "421 client gone"
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.received.append(Mail(list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="test-smtp", loop=loop), "127.0.0.1", 0
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.received if address in m.to]


@dataclass
class Received:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """A minimal real HTTP/1.1 server answering with the next status of `statuses` (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[Received] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self.statuses.pop(0) if self.statuses else 200
            self.requests.append(Received(status, headers, body))
            extra = "Location: http://127.0.0.1:1/elsewhere\r\n" if 300 <= status < 400 else ""
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@dataclass
class Paging:
    mesh: Mesh
    clock: Clock
    smtp: SmtpServer

    @property
    def api(self) -> Any:
        return self.mesh.api

    async def post(self, path: str, body: Any, status: int = 201) -> dict[str, Any]:
        response = await self.api.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    async def user(self, name: str) -> dict[str, Any]:
        email = f"{name}-{secrets.token_hex(3)}@example.com"
        return await self.post("/api/v1/users", {"name": name, "email": email})

    async def policy(self, levels: list[list[dict[str, str]]], **extra: Any) -> dict[str, Any]:
        body = {
            "name": f"policy-{secrets.token_hex(4)}",
            "levels": [{"delay_minutes": 30, "targets": t} for t in levels],
            **extra,
        }
        return await self.post("/api/v1/escalation_policies", body)

    async def service(self, policy_id: str | None, **extra: Any) -> dict[str, Any]:
        body = {"name": f"svc-{secrets.token_hex(4)}", "escalation_policy_id": policy_id, **extra}
        return await self.post("/api/v1/services", body)

    async def trigger(self, key: str, dedup: str, summary: str = "Disk full on db1") -> str:
        body = {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": summary,
                "source": "db1",
                "severity": "critical",
                "custom_details": {"disk": "/var", "free": "0.5%"},
            },
        }
        response = await self.api.post("/v2/enqueue", json=body)
        assert response.status_code == 202, response.text
        incidents = await eventually(lambda: self._incident(key, dedup))
        return str(incidents["id"])

    async def _incident(self, key: str, dedup: str) -> dict[str, Any] | None:
        response = await self.api.get("/api/v1/incidents", params={"limit": 500})
        for incident in response.json()["incidents"]:
            if incident["dedup_key"] == dedup:
                return incident
        return None

    async def incident(self, incident_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/v1/incidents/{incident_id}")
        return response.json()["incident"]

    async def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"/api/v1/incidents/{incident_id}/timeline")
        return response.json()["timeline"]

    async def mail_to(self, address: str, count: int = 1, timeout: float = 30.0) -> list[Mail]:
        """Wait until `address` has `count` messages; returns them."""

        async def arrived() -> list[Mail] | None:
            got = self.smtp.to(address)
            return got if len(got) >= count else None

        return await eventually(arrived, timeout=timeout)

    async def settle(self, ticks: int = 6) -> None:
        """Let the escalator's poller run a few times on the current clock."""
        tick = self.mesh.ctx.settings.escalator_tick
        await asyncio.sleep(tick * ticks + 0.3)


@asynccontextmanager
async def paging_mesh(**overrides: Any) -> AsyncIterator[Paging]:
    """The whole mesh with the paging workers, a real SMTP server and a settable clock."""
    ns = new_namespace()
    smtp = SmtpServer()
    await smtp.start()
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_from": "OnCallNova <pages@oncallnova.test>",
        "public_url": "http://oncallnova.test",
        "escalator_tick": 0.05,
        "webhook_allowed_hosts": "127.0.0.1",
        "webhook_retry_base": 0.05,
        "fetch_batch": 64,
    }
    values.update(overrides)
    mesh = await start_mesh(services_settings(ns, **values), PAGING_WORKERS)
    clock = Clock()
    mesh.ctx.clock = clock
    try:
        yield Paging(mesh, clock, smtp)
    finally:
        await stop_mesh(mesh)
        await smtp.stop()
        await drop_namespace(ns)
