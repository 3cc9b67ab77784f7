"""Apply Alembic migrations programmatically (used by `oncallnova migrate` and `up`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

# The tables a storm grows; the lifecycle reads them by key in every batch.
HOT_TABLES = ("incidents", "alerts", "incident_timeline")
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(engine: AsyncEngine, schema: str | None = None) -> None:
    """Bring the database to the newest revision; safe to run at every start."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes may start at once (distributed mode): one migrates at a time.
            await connection.exec_driver_sql("SELECT pg_advisory_xact_lock(724242)")
            if schema:
                await connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                await connection.exec_driver_sql(f'SET search_path TO "{schema}"')
        await connection.run_sync(_upgrade_sync)
        if connection.dialect.name == "postgresql":
            # Statistics for the tables the lifecycle looks up by key in every batch, so a
            # restart never plans them from stale or missing ones (a sample: cheap at any size).
            await connection.exec_driver_sql("ANALYZE " + ", ".join(HOT_TABLES))


def _upgrade_sync(connection: object) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    # One chain of revisions: "head" fails loudly if two revisions ever claim one parent.
    command.upgrade(config, "head")
