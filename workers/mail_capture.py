"""The capture inbox: a real SMTP server (aiosmtpd) on loopback that keeps every message in the
database, so pages can be read at GET /api/v1/mail without any mail server (embedded default).
"""

from __future__ import annotations

import asyncio
import logging
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oncallnova.db.models.paging import CapturedMail
from oncallnova.db.types import utcnow

log = logging.getLogger(__name__)


def parse(raw: bytes) -> dict[str, Any]:
    """Subject, Message-ID and the text and HTML bodies of a raw message."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return {
        "subject": str(message.get("Subject", "")),
        "message_id": str(message.get("Message-ID", "")) or None,
        "text_body": text_part.get_content() if text_part is not None else "",
        "html_body": html_part.get_content() if html_part is not None else "",
    }


class _Handler:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        try:
            parts = parse(raw)
        except Exception as error:  # keep what came, even unparsable
            parts = {"subject": f"(unparsable: {error})", "message_id": None}
            parts.update(text_body="", html_body="")
        async with self.sessions.begin() as db:
            db.add(
                CapturedMail(
                    mail_from=envelope.mail_from or "",
                    rcpt_to=list(envelope.rcpt_tos),
                    raw=raw.decode("utf-8", "replace"),
                    received_at=utcnow(),
                    **parts,
                )
            )
        return "250 Message accepted for delivery"


class CaptureInbox:
    """aiosmtpd's SMTP protocol served on this process's event loop."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.handler = _Handler(sessions)
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self.handler, hostname="oncallnova-capture", loop=loop), host, port
        )
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("capture inbox listening on %s:%d (read it at /api/v1/mail)", host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
