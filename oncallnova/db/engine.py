"""Engine and session factory for PostgreSQL (asyncpg) or SQLite (aiosqlite)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from oncallnova.settings import Settings


def normalise_url(url: str) -> str:
    """Accept the usual `postgresql://` form and pick the async driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def create_engine(settings: Settings) -> AsyncEngine:
    """One pooled engine per process; never a connection per message."""
    url = normalise_url(settings.database_url_or_default())
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql+asyncpg"):
        server_settings = {"application_name": "oncallnova"}
        if settings.database_schema:
            server_settings["search_path"] = settings.database_schema
        kwargs["connect_args"] = {"server_settings": server_settings}
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 10
    else:
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    # WAL lets the web readers run beside the single writer; foreign keys are off by default.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def create_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
