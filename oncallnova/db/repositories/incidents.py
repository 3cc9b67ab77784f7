"""All SQL for services, alerts, incidents and their timeline."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    and_,
    any_,
    bindparam,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova.db.models.incidents import (
    Alert,
    ChangeEvent,
    Incident,
    Service,
    TimelineEntry,
)
from oncallnova.db.types import new_id, utcnow
from oncallnova.display import echo
from oncallnova.errors import Conflict, InvalidInput, NotFound
from oncallnova.incidents.rules import OPEN_STATUSES, IncidentState


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def one_of(session: AsyncSession, column: Any, values: list[Any]) -> Any:
    """`column IN (values)`; on PostgreSQL `= ANY($1)`, one array parameter whatever the count,
    so the statement is prepared once instead of once per batch size."""
    if dialect_name(session) == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


async def index_lookups_only(session: AsyncSession) -> None:
    """For the rest of the session's transaction, no sequential scans on PostgreSQL.

    Every lookup the lifecycle makes has an index, but on a table without statistics (every
    table when a storm starts on a fresh or freshly grown database) PostgreSQL takes each value
    of `col = ANY($1)` on a non-unique column to match 0.5 % of the rows: a batch of 200 ids
    then "matches" the whole table and is planned as a full scan — per batch, growing with the
    table. Scans stay possible where no index fits; they are only priced out. SQLite plans
    keyed lookups on an index without statistics, so it needs nothing."""
    if dialect_name(session) == "postgresql":
        await session.execute(text("SET LOCAL enable_seqscan = off"))


def insert_ignoring_duplicates(session: AsyncSession, model: type) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` in the session's dialect."""
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    # The table, not the mapped class: a Core executemany skips the ORM's bulk bookkeeping.
    return insert(model.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]


# --- services ---------------------------------------------------------------------------


def new_integration_key() -> str:
    """32 hex characters, the length PagerDuty clients check for."""
    return secrets.token_hex(16)


async def _require_unique_name(session: AsyncSession, name: str, except_id: str | None) -> None:
    existing = await session.scalar(select(Service.id).where(Service.name == name))
    if existing is not None and existing != except_id:
        raise Conflict(f"a service named {name!r} already exists", field="name")


async def _require_policy(session: AsyncSession, policy_id: str | None) -> None:
    from oncallnova.db.models.oncall import EscalationPolicy

    if policy_id is not None and await session.get(EscalationPolicy, policy_id) is None:
        raise InvalidInput(
            f"escalation_policy_id: no escalation policy {echo(policy_id)}",
            field="escalation_policy_id",
        )


async def _require_team(session: AsyncSession, team_id: str | None) -> None:
    from oncallnova.db.models.oncall import Team

    if team_id is not None and await session.get(Team, team_id) is None:
        raise InvalidInput(f"team_id: no team {team_id!r}", field="team_id")


def visible_services(teams: Iterable[str] | None) -> Any:
    """A condition on services: unowned ones and those of `teams` (None: every service)."""
    if teams is None:
        return true()
    return or_(Service.team_id.is_(None), Service.team_id.in_(list(teams)))


async def rotate_integration_key(
    session: AsyncSession, service_id: str, overlap_s: float, now: datetime
) -> Service:
    """A new key; the old one keeps working for `overlap_s` seconds (0: stops at once)."""
    service = await session.get(Service, service_id)
    if service is None:
        raise NotFound(f"no service {service_id!r}", field="service_id")
    service.previous_integration_key = service.integration_key if overlap_s > 0 else None
    service.previous_key_expires_at = now + timedelta(seconds=overlap_s) if overlap_s > 0 else None
    service.integration_key = new_integration_key()
    await session.flush()
    return service


async def create_service(
    session: AsyncSession,
    name: str,
    *,
    description: str | None = None,
    escalation_policy_id: str | None = None,
    webhook_secret: str | None = None,
    team_id: str | None = None,
) -> Service:
    await _require_unique_name(session, name, None)
    await _require_policy(session, escalation_policy_id)
    await _require_team(session, team_id)
    service = Service(
        id=new_id(),
        name=name,
        description=description,
        integration_key=new_integration_key(),
        escalation_policy_id=escalation_policy_id,
        webhook_secret=webhook_secret,
        team_id=team_id,
        created_at=utcnow(),
    )
    session.add(service)
    await session.flush()
    return service


async def update_service(session: AsyncSession, service_id: str, **changes: Any) -> Service:
    """Change name, description or escalation policy (only the keys given)."""
    service = await session.get(Service, service_id)
    if service is None:
        raise NotFound(f"no service {echo(service_id)}", field="service_id")
    if "name" in changes:
        await _require_unique_name(session, changes["name"], service_id)
    if "escalation_policy_id" in changes:
        await _require_policy(session, changes["escalation_policy_id"])
    if changes.get("team_id") is not None:
        await _require_team(session, changes["team_id"])
    for name, value in changes.items():
        setattr(service, name, value)
    await session.flush()
    return service


async def list_services(
    session: AsyncSession, teams: Iterable[str] | None = None
) -> Sequence[Service]:
    """Services ordered by name; with `teams`, only unowned ones and those teams'."""
    query = select(Service).where(visible_services(teams)).order_by(Service.name)
    return (await session.scalars(query)).all()


async def service_by_key(
    session: AsyncSession, integration_key: str, now: datetime | None = None
) -> Service | None:
    """The service whose current key this is, or whose previous key is still in its overlap."""
    service = await session.scalar(
        select(Service).where(Service.integration_key == integration_key)
    )
    if service is not None:
        return service
    service = await session.scalar(
        select(Service).where(Service.previous_integration_key == integration_key)
    )
    at = now or utcnow()
    if service is not None and service.previous_key_expires_at is not None:
        if service.previous_key_expires_at > at:
            return service
    return None


async def service_by_id(session: AsyncSession, service_id: str) -> Service | None:
    return await session.get(Service, service_id)


# --- the lifecycle worker's batch reads and writes ---------------------------------------


INCIDENTS: Table = Incident.__table__  # type: ignore[assignment]
# What the lifecycle worker may change on an existing incident.
MUTABLE_COLUMNS = (
    "title", "status", "severity", "urgency", "alert_count", "assignee_id", "escalation_level",
    "updated_at", "last_alert_at", "acknowledged_at", "resolved_at", "escalation_epoch",
)  # fmt: skip


async def lock_incidents(
    session: AsyncSession, ids: Iterable[str], keys: Iterable[tuple[str, str]]
) -> list[IncidentState]:
    """Incidents named by id, and open ones by (service_id, dedup_key), locked FOR UPDATE in id
    order until the transaction ends, so two lifecycle workers never update one from a stale
    read. The key condition is a superset (two arrays); callers match exact pairs."""
    ids, keys = list(set(ids)), set(keys)
    if not ids and not keys:
        return []
    by_key = and_(
        one_of(session, INCIDENTS.c.dedup_key, list({k for _, k in keys})),
        one_of(session, INCIDENTS.c.service_id, list({s for s, _ in keys})),
        INCIDENTS.c.status.in_(OPEN_STATUSES),
    )
    query = (
        select(INCIDENTS)
        .where(or_(one_of(session, INCIDENTS.c.id, ids), by_key))
        .order_by(INCIDENTS.c.id)
        .with_for_update()
    )
    # Columns come in table order, which is the state's field order (a unit test keeps it so).
    return [IncidentState(*row) for row in await session.execute(query)]


async def insert_incidents(session: AsyncSession, records: list[IncidentState]) -> dict[str, int]:
    """Insert new incidents and number them in the order given; returns id → number.

    PostgreSQL draws the numbers from `incident_number_seq` inside the INSERT and returns them,
    saving a round trip; SQLite (one writer) counts on from the highest number."""
    if not records:
        return {}
    if dialect_name(session) == "postgresql":
        statement = (
            INCIDENTS.insert()
            .values(number=func.nextval("incident_number_seq"))
            .returning(INCIDENTS.c.id, INCIDENTS.c.number, sort_by_parameter_order=True)
        )
        rows = [{k: v for k, v in r.as_row().items() if k != "number"} for r in records]
        return dict((await session.execute(statement, rows)).tuples().all())
    highest = int(await session.scalar(select(func.coalesce(func.max(Incident.number), 0))) or 0)
    numbers = {r.id: highest + offset for offset, r in enumerate(records, start=1)}
    await session.execute(
        INCIDENTS.insert(), [{**r.as_row(), "number": numbers[r.id]} for r in records]
    )
    return numbers


async def update_incidents(session: AsyncSession, records: Iterable[IncidentState]) -> None:
    rows = [{"_id": r.id, **{name: getattr(r, name) for name in MUTABLE_COLUMNS}} for r in records]
    if rows:
        statement = (
            INCIDENTS.update()
            .where(INCIDENTS.c.id == bindparam("_id"))
            .values(
                {name: bindparam(name, type_=INCIDENTS.c[name].type) for name in MUTABLE_COLUMNS}
            )
        )
        await session.execute(statement, rows)


async def already_applied(
    session: AsyncSession, source_ids: Iterable[str], alert_ids: Iterable[str]
) -> tuple[list[Any], set[str]]:
    """What a redelivered batch already did, in one round trip: the timeline entries of these
    sources (rows with source_id, incident_id, kind, actor, data) and which alerts are stored."""
    # An empty list becomes [""] (matches nothing): both halves of the union keep one shape,
    # so the statement is prepared once.
    source_ids, alert_ids = list(set(source_ids)), list(set(alert_ids))
    timeline = TimelineEntry.__table__.c
    entries = select(
        timeline.source_id,
        timeline.incident_id,
        timeline.kind,
        timeline.actor,
        timeline.data,
        literal("timeline").label("origin"),
    ).where(one_of(session, timeline.source_id, source_ids or [""]))
    alerts = select(
        Alert.__table__.c.id, null(), null(), null(), null(), literal("alert").label("origin")
    ).where(one_of(session, Alert.__table__.c.id, alert_ids or [""]))
    rows = (await session.execute(union_all(entries, alerts))).all()
    return (
        [r for r in rows if r.origin == "timeline"],
        {r.source_id for r in rows if r.origin == "alert"},
    )


async def insert_alerts(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert_ignoring_duplicates(session, Alert), rows)


async def insert_timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert_ignoring_duplicates(session, TimelineEntry), rows)


async def insert_change_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert_ignoring_duplicates(session, ChangeEvent), rows)


# --- reads for the incident management edge -----------------------------------------------


def incidents_query(
    *,
    statuses: Sequence[str] = (),
    service_ids: Sequence[str] = (),
    severities: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    teams: Iterable[str] | None = None,
) -> Select[Incident]:
    query = select(Incident)
    if teams is not None:
        # Only incidents of the services these teams may see (BOLA: never in a list).
        query = query.where(
            Incident.service_id.in_(select(Service.id).where(visible_services(teams)))
        )
    if statuses:
        query = query.where(Incident.status.in_(statuses))
    if service_ids:
        query = query.where(Incident.service_id.in_(service_ids))
    if severities:
        query = query.where(Incident.severity.in_(severities))
    if since is not None:
        query = query.where(Incident.created_at >= since)
    if until is not None:
        query = query.where(Incident.created_at < until)
    return query


async def list_incidents(
    session: AsyncSession, *, limit: int, offset: int, **filters: Any
) -> tuple[list[Incident], int]:
    """Newest first, with the total count for pagination."""
    query = incidents_query(**filters)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Incident.number.desc()).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def get_incident(session: AsyncSession, incident_id: str) -> Incident | None:
    return await session.get(Incident, incident_id)


async def incident_by_number(session: AsyncSession, number: int) -> Incident | None:
    return await session.scalar(select(Incident).where(Incident.number == number))


async def timeline(session: AsyncSession, incident_id: str) -> list[TimelineEntry]:
    rows = await session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident_id)
        .order_by(TimelineEntry.at, TimelineEntry.id)
    )
    return list(rows)


# --- reads for a dry-run replay (never locks, never writes) ----------------------------------


async def incidents_open_at(session: AsyncSession, at: datetime) -> list[IncidentState]:
    """Incidents that were open at `at`, as they were then as far as their timestamps tell:
    created before it, not resolved by it, acknowledged only if that came before it."""
    query = select(INCIDENTS).where(
        INCIDENTS.c.created_at < at,
        or_(INCIDENTS.c.resolved_at.is_(None), INCIDENTS.c.resolved_at > at),
    )
    states = []
    for row in await session.execute(query):
        state = IncidentState(*row)
        acknowledged = state.acknowledged_at is not None and state.acknowledged_at < at
        states.append(
            IncidentState(
                **{
                    **state.as_row(),
                    "status": "acknowledged" if acknowledged else "triggered",
                    "acknowledged_at": state.acknowledged_at if acknowledged else None,
                    "resolved_at": None,
                }
            )
        )
    return states


async def incident_numbers(session: AsyncSession, ids: Iterable[str]) -> dict[str, int]:
    """id -> number of the incidents among `ids` that exist."""
    ids = list(set(ids))
    if not ids:
        return {}
    query = select(INCIDENTS.c.id, INCIDENTS.c.number).where(one_of(session, INCIDENTS.c.id, ids))
    return {row.id: row.number for row in await session.execute(query)}


async def alerts_with_incidents(
    session: AsyncSession, service: str | None = None
) -> list[dict[str, Any]]:
    """Every stored alert with the number of the incident it went to, oldest first."""
    query = (
        select(
            Alert.id.label("alert_id"),
            Alert.received_at,
            Service.name.label("service"),
            Alert.dedup_key,
            Alert.fingerprint,
            Alert.action,
            Alert.incident_id,
            Incident.number.label("incident_number"),
        )
        .join(Service, Service.id == Alert.service_id)
        .outerjoin(Incident, Incident.id == Alert.incident_id)
        .order_by(Alert.received_at, Alert.id)
    )
    if service is not None:
        query = query.where(or_(Service.name == service, Service.id == service))
    return [dict(row._mapping) for row in await session.execute(query)]


async def copy_services(session: AsyncSession, services: Iterable[Service]) -> None:
    """Services (id, name, key) into another schema, for a replay namespace; existing kept."""
    rows = [
        {
            "id": s.id,
            "name": s.name,
            "description": s.description,
            "integration_key": s.integration_key,
            "created_at": s.created_at,
        }
        for s in services
    ]
    if rows:
        await session.execute(insert_ignoring_duplicates(session, Service), rows)


async def alerts_of_incident(session: AsyncSession, incident_id: str, limit: int) -> list[Alert]:
    """The alerts attached to an incident, oldest first (their raw payloads included)."""
    rows = await session.scalars(
        select(Alert)
        .where(Alert.incident_id == incident_id)
        .order_by(Alert.received_at, Alert.id)
        .limit(limit)
    )
    return list(rows)


async def alerts_since(
    session: AsyncSession, since: datetime, teams: Iterable[str] | None = None
) -> int:
    """How many alerts arrived since `since` on the services `teams` may see (None: all)."""
    query = select(func.count()).select_from(Alert).where(Alert.received_at >= since)
    if teams is not None:
        query = query.where(Alert.service_id.in_(select(Service.id).where(visible_services(teams))))
    return int(await session.scalar(query) or 0)
