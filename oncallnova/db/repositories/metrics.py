"""SQL of the metrics worker and the exporter: per-incident facts, series, counted messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova.db.models.metrics import MetricIncident, MetricSeenMessage, MetricSeries
from oncallnova.db.repositories.incidents import dialect_name, insert_ignoring_duplicates
from oncallnova.metrics.facts import Facts, SeriesKey


async def lock_facts(
    session: AsyncSession, incidents: Mapping[str, tuple[str, str]]
) -> dict[str, Facts]:
    """The facts of each incident (id → (severity, service id)), locked for this transaction.
    A placeholder row is inserted first so two copies of the worker lock the same row."""
    ids = sorted(incidents)
    await session.execute(
        insert_ignoring_duplicates(session, MetricIncident),
        [
            {"incident_id": i, "severity": incidents[i][0], "service_id": incidents[i][1],
             "status": ""}
            for i in ids
        ],
    )  # fmt: skip
    query = select(MetricIncident).where(MetricIncident.incident_id.in_(ids))
    if dialect_name(session) == "postgresql":
        # Sorted, so two copies locking overlapping batches never deadlock.
        query = query.order_by(MetricIncident.incident_id).with_for_update()
    rows = (await session.scalars(query)).all()
    return {
        row.incident_id: Facts(
            row.incident_id, row.severity, row.service_id, row.status,
            row.created_at, row.acknowledged_at, row.resolved_at,
        )
        for row in rows
    }  # fmt: skip


async def save_facts(session: AsyncSession, facts: Iterable[Facts]) -> None:
    for f in facts:
        await session.execute(
            update(MetricIncident)
            .where(MetricIncident.incident_id == f.incident_id)
            .values(
                status=f.status,
                created_at=f.created_at,
                acknowledged_at=f.acknowledged_at,
                resolved_at=f.resolved_at,
            )
        )


async def add_to_series(session: AsyncSession, moved: Mapping[SeriesKey, float]) -> None:
    """Add each amount to its series (created at zero when new), in key order so concurrent
    workers take the row locks in the same order."""
    if not moved:
        return
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    table = MetricSeries.__table__
    statement: Any = insert(table)  # type: ignore[arg-type]
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.name, table.c.labels],
        set_={"value": table.c.value + statement.excluded.value},
    )
    for (name, label_text), amount in sorted(moved.items()):
        await session.execute(statement, {"name": name, "labels": label_text, "value": amount})


async def first_seen(session: AsyncSession, ids: list[str], now: datetime) -> set[str]:
    """Record message ids as counted; returns those not counted before."""
    if not ids:
        return set()
    statement = (
        insert_ignoring_duplicates(session, MetricSeenMessage)
        .values([{"id": i, "seen_at": now} for i in ids])
        .returning(MetricSeenMessage.__table__.c.id)
    )
    return set((await session.scalars(statement)).all())


async def read_series(session: AsyncSession) -> list[tuple[str, str, float]]:
    """Every stored series value."""
    rows = await session.execute(select(MetricSeries.name, MetricSeries.labels, MetricSeries.value))
    return [(name, label_text, float(value)) for name, label_text, value in rows.all()]


async def forget_seen_before(session: AsyncSession, before: datetime) -> None:
    """Drop counted ids older than any message the stream can still redeliver."""
    await session.execute(delete(MetricSeenMessage).where(MetricSeenMessage.seen_at < before))
