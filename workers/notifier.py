"""Notifier: sends each requested notification by email, once.

Consumes: `notification.requested.v1.email` (durable `notifier`).
Emits:    nothing on the mesh; email through SMTP (`SMTP_*` settings), or into the capture
          inbox when no `SMTP_HOST` is set (`workers/mail_capture.py`, read at GET /api/v1/mail).
Idempotency: SMTP is not idempotent, so each notification's row (keyed by incident, step,
          user, rule, contact method) is claimed and committed before the send and marked
          `sent` in its own commit right after the server's 250: a redelivery finds it sent and
          sends nothing. Only a crash between the 250 and that commit sends twice (both copies
          carry the same Message-ID). Every attempt goes on the incident's timeline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import aiosmtplib
from nats.aio.msg import Msg

from oncallnova.bus.runtime import Delivery, UnitOfWork, Worker, parse
from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Service
from oncallnova.db.repositories import paging as repo
from oncallnova.paging import mail, tokens
from schemas.envelope import Envelope
from schemas.paging_v1 import NotificationRequestedV1
from workers.mail_capture import CaptureInbox

log = logging.getLogger(__name__)

ACTOR = "system:notifier"
PARALLEL_SENDS = 16


def short_hash(key: str) -> str:
    """Notification keys outgrow the timeline's source column; their digest does not."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def retry_delay(attempt: int) -> float:
    """Seconds before another try after a temporary failure: 2, 4, 8 … capped at 5 minutes."""
    return min(300.0, 2.0 * 2 ** max(0, attempt - 1))


def is_permanent(error: Exception) -> bool:
    """A 5xx answer (unknown mailbox, refused sender) will not change on retry."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 500 <= error.code < 600
    return False


class NotifierWorker(Worker[NotificationRequestedV1]):
    consumer = "notifier"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.inbox: CaptureInbox | None = None
        self._key: bytes | None = None
        # SMTP round trips dominate: keep several batches in flight (one writer on SQLite).
        self.concurrency = 1 if ctx.engine.dialect.name == "sqlite" else 4

    def conflict_keys(self, batch: list[Delivery[NotificationRequestedV1]]) -> set[str] | None:
        """Batches overlap unless they carry the same notification (a redelivery)."""
        return {d.data.notification_id for d in batch}

    async def start(self) -> None:
        if not self.ctx.settings.smtp_host:
            self.inbox = CaptureInbox(self.ctx.sessions)
            await self.inbox.start("127.0.0.1", self.ctx.settings.smtp_port)

    async def stop(self) -> None:
        if self.inbox is not None:
            await self.inbox.stop()

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> NotificationRequestedV1:
        return parse(NotificationRequestedV1, msg)

    async def handle(self, batch: list[Delivery[NotificationRequestedV1]], uow: UnitOfWork) -> None:
        limit = asyncio.Semaphore(PARALLEL_SENDS)

        async def one(delivery: Delivery[NotificationRequestedV1]) -> None:
            async with limit:
                delay = await self.send(delivery.data)
            if delay is not None:
                uow.retry_later(delivery, delay)

        # The same notification twice in one batch (a redelivery beside the original) is sent
        # by one of them only; the row lock would serialise them but not stop the second.
        unique = {d.data.notification_id: d for d in batch}
        await asyncio.gather(*(one(d) for d in unique.values()))

    def _smtp(self) -> dict[str, Any]:
        settings = self.ctx.settings
        if self.inbox is not None:
            return {"hostname": "127.0.0.1", "port": self.inbox.port}
        port = settings.smtp_port or {"none": 25, "starttls": 587, "tls": 465}[settings.smtp_tls]
        return {
            "hostname": settings.smtp_host,
            "port": port,
            "username": settings.smtp_username,
            "password": settings.smtp_password,
            "use_tls": settings.smtp_tls == "tls",
            "start_tls": settings.smtp_tls == "starttls",
            "timeout": settings.smtp_timeout,
        }

    async def send(self, request: NotificationRequestedV1) -> float | None:
        """Send one notification unless it was sent; returns a retry delay after a temporary
        failure, None when done (sent, already sent, or failed for good)."""
        now = self.ctx.clock()
        sender = self.ctx.settings.smtp_from
        async with self.ctx.sessions() as session:
            row = await repo.claim_notification(
                session,
                {
                    "id": request.notification_id,
                    "incident_id": request.incident.id,
                    "user_id": request.user_id,
                    "rule_id": request.rule_id,
                    "channel": request.channel,
                    "address": request.address,
                    "step": request.step,
                    "message_id": mail.message_id(request.notification_id, sender),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            if row.status in ("sent", "failed"):
                await session.commit()
                log.debug("notification %s already %s", request.notification_id, row.status)
                return None
            row.status, row.attempts, row.updated_at = "sending", row.attempts + 1, now
            attempt = row.attempts
            log.debug("notification %s: attempt %d", request.notification_id, attempt)
            message = await self._compose(session, request, now)
            await session.commit()
        try:
            await self._deliver(message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            permanent = is_permanent(error)
            await self._record(
                request,
                status="failed" if permanent else "pending",
                kind="notification_failed" if permanent else "notification_retry",
                text=(
                    f"Email to {request.address} failed (attempt {attempt}): {error}"
                    + ("" if permanent else f"; retrying in {retry_delay(attempt):.0f} s")
                ),
                attempt=attempt,
                error=str(error)[:1000],
            )
            return None if permanent else retry_delay(attempt)
        await self._record(
            request,
            status="sent",
            kind="notification_sent",
            text=f"Emailed {request.address} (attempt {attempt})",
            attempt=attempt,
        )
        return None

    async def _deliver(self, message: Any) -> None:
        """One SMTP session. Stopped halfway, it drops the connection at once: a message whose
        250 did not come must not be accepted later by a server still finishing its DATA."""
        client = aiosmtplib.SMTP(**self._smtp())
        await client.connect()
        try:
            await client.send_message(message)
        except BaseException:
            client.close()
            raise
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()

    async def _compose(self, session: Any, request: NotificationRequestedV1, now: Any) -> Any:
        if self._key is None:
            self._key = await repo.action_link_key(session, self.ctx.settings.action_link_secret)
        incident = request.incident
        service = await session.get(Service, incident.service_id)
        alert = await repo.latest_alert(session, incident.id) or {}
        return mail.build(
            incident=incident,
            service=service.name if service else incident.service_id,
            reason=request.reason,
            alert_summary=str(alert.get("summary") or incident.title),
            alert_details=dict(alert.get("details") or {}),
            public_url=self.ctx.settings.public_url,
            tokens={
                a: tokens.sign(self._key, incident.id, a, now, request.user_id)
                for a in tokens.ACTIONS
            },
            now=now,
            sender=self.ctx.settings.smtp_from,
            to=request.address,
            notification_id=request.notification_id,
        )

    async def _record(
        self,
        request: NotificationRequestedV1,
        *,
        status: str,
        kind: str,
        text: str,
        attempt: int,
        error: str | None = None,
    ) -> None:
        """The attempt's outcome on the notification row and the incident's timeline."""
        now = self.ctx.clock()
        async with self.ctx.sessions.begin() as session:
            await repo.mark_notification(
                session,
                request.notification_id,
                status=status,
                updated_at=now,
                last_error=error,
                sent_at=now if status == "sent" else None,
            )
            await repo.add_timeline(
                session,
                [
                    {
                        "incident_id": request.incident.id,
                        "at": now,
                        "kind": kind,
                        "actor": ACTOR,
                        "message": text,
                        "source_id": f"ntf:{short_hash(request.notification_id)}#{attempt}",
                        "data": {
                            "notification_id": request.notification_id,
                            "user_id": request.user_id,
                            "address": request.address,
                            "step": request.step,
                            "attempt": attempt,
                            "error": error,
                        },
                    }
                ],
            )
