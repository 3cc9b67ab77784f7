"""ASGI middleware around every route: a body size limit, and the audit log of writes."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from oncallnova.context import AppContext
from oncallnova.db.models.security import AuditEntry
from oncallnova.db.types import utcnow
from oncallnova.security.rules import rest_rule

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REDACTED = "[redacted]"
# Column names whose values never leave the server, not even into the audit log.
SECRET_MARKERS = ("password", "secret", "token", "key")


def _json_error(status: int, code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "field": "body"}}).encode()


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        seen = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not refused:
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out; whatever the route says now is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        body = _json_error(413, "body_too_large", f"body: must be at most {self.limit} bytes")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Feed URLs carry their token: never send a URL of ours to another site.
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Headers every answer carries (no sniffing, no framing, no referrer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


# --- the audit log -----------------------------------------------------------------------

_changes: ContextVar[list[dict[str, Any]] | None] = ContextVar("audit_changes", default=None)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def _secret(column: str) -> bool:
    return any(marker in column for marker in SECRET_MARKERS)


def _shown(column: str, value: Any) -> Any:
    return REDACTED if _secret(column) and value is not None else _plain(value)


def _columns(obj: Any) -> dict[str, Any]:
    mapper = inspect(obj).mapper
    return {c.key: _shown(c.key, getattr(obj, c.key, None)) for c in mapper.column_attrs}


def _record_flush(session: Session, _context: Any) -> None:
    """After each flush inside an audited request: what each row was and became."""
    changes = _changes.get()
    if changes is None:
        return
    for obj in session.new:
        if isinstance(obj, AuditEntry):
            continue
        changes.append(
            {"table": obj.__tablename__, "op": "insert", "before": None, "after": _columns(obj)}
        )
    for obj in session.dirty:
        state = inspect(obj)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for attr in state.mapper.column_attrs:
            history = state.attrs[attr.key].history
            if history.has_changes():
                before[attr.key] = _shown(attr.key, history.deleted[0] if history.deleted else None)
                after[attr.key] = _shown(attr.key, history.added[0] if history.added else None)
        if after:
            changes.append(
                {
                    "table": obj.__tablename__,
                    "id": _plain(getattr(obj, "id", None)),
                    "op": "update",
                    "before": before,
                    "after": after,
                }
            )
    for obj in session.deleted:
        changes.append(
            {"table": obj.__tablename__, "op": "delete", "before": _columns(obj), "after": None}
        )
    for change in changes:
        if "id" not in change:
            values = change["after"] or change["before"] or {}
            change["id"] = values.get("id")


event.listen(Session, "after_flush", _record_flush)


class AuditLog:
    """Appends one audit entry per write request (anything but GET/HEAD/OPTIONS, and not the
    ingest routes, whose alerts are their own record) before its answer leaves."""

    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        changes: list[dict[str, Any]] = []
        token = _changes.set(changes)
        written = False

        async def audited_send(message: Message) -> None:
            nonlocal written
            if message["type"] == "http.response.start" and not written:
                written = True
                await self._write(scope, message["status"], changes)
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        finally:
            _changes.reset(token)

    async def _write(self, scope: Scope, status: int, changes: list[dict[str, Any]]) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or scope.get("path", "")
        rule = rest_rule(scope["method"], template)
        if rule is not None and rule.access == "integration_key":
            return
        principal = (scope.get("state") or {}).get("principal")
        client = scope.get("client")
        entry = AuditEntry(
            at=utcnow(),
            actor=principal.actor if principal is not None else "anonymous",
            role=principal.role.name if principal is not None else None,
            address=(client[0] if client else None),
            method=scope["method"],
            route=template[:255],
            path=scope.get("path", "")[:2048],
            status=status,
            changes=changes,
        )
        try:
            async with self.ctx.sessions.begin() as session:
                session.add(entry)
        except Exception:
            # The change itself is committed; losing its audit entry is logged loudly.
            log.exception("could not append to the audit log (%s %s)", scope["method"], template)
