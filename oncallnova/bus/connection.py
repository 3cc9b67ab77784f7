"""The process's one NATS connection and its publishing side."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import PubAck
from pydantic import BaseModel

import nats
from oncallnova import telemetry
from oncallnova.bus import declarations
from oncallnova.errors import BacklogFull, Unavailable
from oncallnova.settings import Settings
from schemas.envelope import STORE_BY, Envelope
from schemas.subjects import Topic, namespaced

log = logging.getLogger(__name__)

# How long an edge waits for a PubAck before telling its caller "503, try again": well under a
# client's own timeout, long enough for an embedded broker restarted after a crash to be back.
EDGE_PUBACK_TIMEOUT_S = 5.0
BROKER_DOWN = "the message broker is unavailable; nothing was stored, retry later"
BACKLOG_FULL = "the workers' backlog is full; nothing was stored, retry later"
# JetStream's "store failed" code; with a discard-new stream at its limit the description says
# which limit ("maximum messages exceeded", "maximum bytes exceeded").
JS_STORE_FAILED = 10077
_LIMIT_REACHED = re.compile(r"maximum (messages|bytes)( per subject)? exceeded")


def is_backlog_full(error: BaseException) -> bool:
    """True for JetStream refusing a publish because the stream is at its limit (discard new):
    the message was not stored."""
    return (
        isinstance(error, nats.js.errors.APIError)
        and error.err_code == JS_STORE_FAILED
        and bool(_LIMIT_REACHED.search(error.description or ""))
    )


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

    async def publish_or_refuse(
        self, message: Outgoing, timeout_s: float = EDGE_PUBACK_TIMEOUT_S
    ) -> PubAck:
        """Publish for a caller who is waiting: a PubAck, or `Unavailable` / `BacklogFull` and
        nothing stored.

        nats-py keeps publishes made while it reconnects (and ones queued just before the
        connection dropped) and sends them once the broker is back, which would store a message
        whose sender was told it failed. So: refuse at once while disconnected; after a failed
        publish take it back out of the client's outgoing buffer; and if it had already been
        written to the socket (stored or not, nobody knows), publish it again under the same
        `Nats-Msg-Id` once reconnected: the stream stores it at most once and the PubAck is an
        answer, 202 either way. If no PubAck comes within `timeout_s` (a frozen broker that
        wakes up later would still store it), the `Onc-Store-By` header makes every worker
        ignore a copy stored after that moment (`stored_too_late`).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        subject, headers = self.full(message.subject), message.headers()
        headers[STORE_BY] = str(int((time.time() + timeout_s) * 1000))
        written = False
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if not self.nc.is_connected:
                if not written:
                    raise Unavailable(BROKER_DOWN)
                await asyncio.sleep(0.05)
            else:
                try:
                    return await self.js.publish(
                        subject, message.body, timeout=remaining, headers=headers
                    )
                except (nats.errors.Error, TimeoutError, OSError) as error:
                    if is_backlog_full(error):
                        # The stream answered "full": not stored, and never will be (a copy
                        # written by an earlier attempt carries the Onc-Store-By deadline).
                        raise BacklogFull(BACKLOG_FULL) from error
                    if self._withdraw(message.envelope.id):
                        # Never left this process: nothing can be stored.
                        raise Unavailable(BROKER_DOWN) from error
                    if isinstance(error, nats.js.errors.APIError) and not isinstance(
                        error, nats.js.errors.ServiceUnavailableError
                    ):
                        raise  # the broker answered and refused: not an outage
                    written = True
                    await asyncio.sleep(0.05)
        log.warning(
            "publish of %s to %s unconfirmed within %.1fs: refused; a late copy is ignored",
            message.envelope.id,
            subject,
            timeout_s,
        )
        raise Unavailable(BROKER_DOWN)

    def _withdraw(self, message_id: str) -> bool:
        """Drop a not-yet-sent publish carrying `message_id` from nats-py's outgoing buffer."""
        # The PUB command is queued in `_pending` until the flusher (or a reconnect) writes it;
        # both run on this event loop, so nothing is written between this check and the removal.
        marker = f"Nats-Msg-Id: {message_id}\r\n".encode()
        pending: list[bytes] = self.nc._pending
        kept = [command for command in pending if marker not in command]
        if len(kept) == len(pending):
            return False
        self.nc._pending = kept
        self.nc._pending_data_size = sum(len(command) for command in kept)
        return True

    async def publish_all(self, messages: Sequence[Outgoing], timeout_s: float = 10.0) -> None:
        """Publish a batch's effects with their PubAcks in flight together.

        Raises if any PubAck fails or does not come within `timeout_s` (a full stream's refusal
        first, so the runtime can tell it); republishing the whole batch is then safe, because
        every message carries a fixed `Nats-Msg-Id`. Each message is its own `js.publish`
        (all awaited together) rather than nats-py's `publish_async`, whose reply handler
        raises on an error answer instead of failing the future: a refusal would surface only
        as a timeout.
        """
        if not messages:
            return
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    self.js.publish(
                        self.full(m.subject), m.body, timeout=timeout_s, headers=m.headers()
                    )
                    for m in messages
                ),
                return_exceptions=True,
            ),
            timeout=timeout_s,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise next((e for e in errors if is_backlog_full(e)), errors[0])

    async def close(self) -> None:
        if self.nc.is_connected:
            await self.nc.drain()


def stored_too_late(msg: Msg) -> bool:
    """True for a message stored after its `Onc-Store-By`: its publisher had given up on it."""
    store_by = (msg.headers or {}).get(STORE_BY)
    if not store_by or not store_by.isascii() or not store_by.isdigit():
        return False
    try:
        stored_at = msg.metadata.timestamp
    except (nats.errors.NotJSMessageError, ValueError, IndexError):
        return False
    return stored_at.timestamp() * 1000 > int(store_by)


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
