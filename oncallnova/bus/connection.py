"""The process's one NATS connection and its publishing side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck
from pydantic import BaseModel

import nats
from oncallnova import telemetry
from oncallnova.bus import declarations
from oncallnova.settings import Settings
from schemas.envelope import Envelope
from schemas.subjects import Topic, namespaced

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: its subject as the catalogue writes it (the bus adds the
    namespace), body and envelope."""

    subject: str
    body: bytes
    envelope: Envelope
    extra_headers: dict[str, str] | None = None

    @classmethod
    def of(
        cls,
        topic: Topic,
        key: str,
        body: BaseModel | bytes,
        envelope: Envelope,
        *,
        event: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Outgoing:
        """A message on one of the catalogue's topics; a model is serialised by alias."""
        data = body if isinstance(body, bytes) else body.model_dump_json(by_alias=True).encode()
        return cls(topic.subject(key, event=event), data, envelope, headers)

    def headers(self) -> dict[str, str]:
        headers = self.envelope.to_headers()
        if self.extra_headers:
            headers.update(self.extra_headers)
            if "traceparent" in self.extra_headers:
                return headers  # the runtime named the span that caused this message
        return telemetry.inject(headers)


class Bus:
    """NATS + JetStream for one process; every subject it builds carries the namespace."""

    def __init__(self, nc: NATS, settings: Settings, *, replicas: int = 1) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=10)
        self.ns = settings.nats_namespace
        self.settings = settings
        self.replicas = replicas

    def stream(self, name: str) -> str:
        return declarations.stream_name(self.ns, name)

    def bucket(self, name: str) -> str:
        return declarations.bucket_name(self.ns, name)

    def full(self, subject: str) -> str:
        """A catalogue subject with this bus's namespace: the one place it is applied."""
        return namespaced(self.ns, subject)

    def strip_ns(self, subject: str) -> str:
        """A subject as the catalogue writes it, without this bus's namespace."""
        prefix = f"{self.ns}."
        return subject[len(prefix) :] if self.ns and subject.startswith(prefix) else subject

    async def publish(self, message: Outgoing) -> PubAck:
        """Publish and wait for the PubAck: after it returns the message is durable."""
        return await self.js.publish(
            self.full(message.subject), message.body, headers=message.headers()
        )

    async def publish_all(self, messages: Sequence[Outgoing], timeout_s: float = 10.0) -> None:
        """Publish a batch's effects with their PubAcks in flight together.

        Raises if any PubAck fails or does not come within `timeout_s`; republishing the whole
        batch is then safe, because every message carries a fixed `Nats-Msg-Id`.
        """
        if not messages:
            return
        if len(messages) == 1:
            await self.js.publish(
                self.full(messages[0].subject),
                messages[0].body,
                timeout=timeout_s,
                headers=messages[0].headers(),
            )
            return
        futures = [
            await self.js.publish_async(self.full(m.subject), m.body, headers=m.headers())
            for m in messages
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*futures), timeout=timeout_s)
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()

    async def close(self) -> None:
        if self.nc.is_connected:
            await self.nc.drain()


async def connect(settings: Settings, url: str | None = None, *, name: str = "oncallnova") -> Bus:
    """Connect to the configured (or given) NATS server with reconnects forever."""
    servers = url or settings.nats_url or "nats://127.0.0.1:4222"

    async def on_error(error: Exception) -> None:
        log.warning("nats error: %s", error)

    nc = await nats.connect(
        servers=[s.strip() for s in servers.split(",")],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
    )
    return Bus(nc, settings, replicas=settings.nats_replicas)
