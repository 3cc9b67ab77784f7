"""API tokens for programs and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from oncallnova.db.models.base import Base
from oncallnova.db.types import IdColumnType, JSONType, UTCDateTime, new_id, utcnow

AutoBigInt = BigInteger().with_variant(Integer(), "sqlite")


class ApiToken(Base):
    """A long-lived bearer token for a program, acting as its user with at most `role`.

    Only the SHA-256 of the token is stored: the token is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One write: who, what, before/after, when, from which address. Never updated or deleted
    (database triggers refuse both)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(AutoBigInt, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[int] = mapped_column(Integer)
    # [{"table", "id", "op", "before", "after"}]: secrets redacted.
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
