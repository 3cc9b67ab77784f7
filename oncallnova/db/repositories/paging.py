"""All SQL for paging: escalation timers, notification rules and notifications, the capture
inbox, action-link bookkeeping, webhook subscriptions and their attempts."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova.db.models.incidents import Incident, TimelineEntry
from oncallnova.db.models.oncall import User
from oncallnova.db.models.paging import (
    CapturedMail,
    EscalationTimer,
    Notification,
    NotificationRule,
    NotificationRuleSet,
    PlatformSecret,
    UsedActionToken,
    WebhookAttempt,
    WebhookSubscription,
)
from oncallnova.db.repositories.incidents import (
    dialect_name,
    insert_ignoring_duplicates,
    one_of,
)
from oncallnova.db.types import new_id, utcnow
from oncallnova.errors import NotFound
from oncallnova.paging.steps import Rule, default_rules

# --- timers ---------------------------------------------------------------------------------


async def add_timers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert timers; one already there (same id: same incident, epoch, kind, step) stays."""
    if rows:
        await session.execute(insert_ignoring_duplicates(session, EscalationTimer), rows)


async def due_timers(session: AsyncSession, now: datetime, limit: int) -> list[EscalationTimer]:
    """Pending timers due by `now`, oldest first, locked so copies of the escalator share them."""
    query = (
        select(EscalationTimer)
        .where(EscalationTimer.fired_at.is_(None), EscalationTimer.due_at <= now)
        .order_by(EscalationTimer.due_at)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(await session.scalars(query))


async def mark_fired(session: AsyncSession, ids: Sequence[str], now: datetime) -> None:
    if ids:
        await session.execute(
            update(EscalationTimer)
            .where(one_of(session, EscalationTimer.id, list(ids)))
            .values(fired_at=now)
            .execution_options(synchronize_session=False)
        )


async def cancel_timers(session: AsyncSession, incident_id: str, now: datetime) -> None:
    """A resolved incident needs no more timers (they would be fenced out anyway)."""
    await session.execute(
        update(EscalationTimer)
        .where(EscalationTimer.incident_id == incident_id, EscalationTimer.fired_at.is_(None))
        .values(fired_at=now)
    )


async def pending_timers(session: AsyncSession, incident_id: str) -> list[EscalationTimer]:
    query = (
        select(EscalationTimer)
        .where(EscalationTimer.incident_id == incident_id, EscalationTimer.fired_at.is_(None))
        .order_by(EscalationTimer.due_at)
    )
    return list(await session.scalars(query))


async def incident_fence(session: AsyncSession, incident_id: str) -> tuple[str, int] | None:
    """(status, escalation epoch) of an incident, read under a share lock."""
    query = select(Incident.status, Incident.escalation_epoch).where(Incident.id == incident_id)
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(read=True)
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def add_timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Timeline entries, insert-or-ignore on (incident, kind, source)."""
    if rows:
        await session.execute(insert_ignoring_duplicates(session, TimelineEntry), rows)


# --- notification rules ---------------------------------------------------------------------


def user_emails(user: User) -> list[str]:
    """The user's email contact methods, their account email first."""
    emails = [user.email]
    for method in user.contact_methods or []:
        if method.get("type") == "email" and method.get("address"):
            emails.append(str(method["address"]))
    return emails


async def rules_of(session: AsyncSession, user: User) -> list[NotificationRule]:
    """The user's rules; a user who never had any gets the default ones written first."""
    marked = await session.get(NotificationRuleSet, user.id)
    if marked is None:
        await session.execute(
            insert_ignoring_duplicates(session, NotificationRuleSet),
            [{"user_id": user.id, "created_at": utcnow()}],
        )
        await session.flush()
        existing = await session.scalar(
            select(func.count()).where(NotificationRule.user_id == user.id)
        )
        if not existing:
            for contact_type, address, delay, urgency in default_rules(user_emails(user)):
                session.add(
                    NotificationRule(
                        id=new_id(),
                        user_id=user.id,
                        contact_type=contact_type,
                        contact_address=address,
                        start_delay_in_minutes=delay,
                        urgency=urgency,
                    )
                )
            await session.flush()
    query = (
        select(NotificationRule)
        .where(NotificationRule.user_id == user.id)
        .order_by(NotificationRule.start_delay_in_minutes, NotificationRule.created_at)
    )
    return list(await session.scalars(query))


def rule_domain(row: NotificationRule) -> Rule:
    return Rule(
        row.id, row.contact_type, row.contact_address, row.start_delay_in_minutes, row.urgency
    )


async def get_rule(session: AsyncSession, user_id: str, rule_id: str) -> NotificationRule:
    rule = await session.get(NotificationRule, rule_id[:36])
    if rule is None or rule.user_id != user_id:
        raise NotFound(f"no notification rule {rule_id!r} for this user", field="rule_id")
    return rule


# --- notifications --------------------------------------------------------------------------


async def claim_notification(session: AsyncSession, row: dict[str, Any]) -> Notification:
    """The notification's row, created on first sight, locked for this attempt."""
    await session.execute(insert_ignoring_duplicates(session, Notification), [row])
    query = select(Notification).where(Notification.id == row["id"])
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    return (await session.scalars(query)).one()


async def mark_notification(session: AsyncSession, notification_id: str, **values: Any) -> None:
    """Record an attempt's outcome (one UPDATE, no read)."""
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def notifications_of(session: AsyncSession, incident_id: str) -> list[Notification]:
    query = (
        select(Notification)
        .where(Notification.incident_id == incident_id)
        .order_by(Notification.created_at, Notification.id)
    )
    return list(await session.scalars(query))


# --- action links ---------------------------------------------------------------------------


async def platform_secret(session: AsyncSession, name: str) -> str:
    """A deployment-wide secret, generated by whichever process asks first."""
    await session.execute(
        insert_ignoring_duplicates(session, PlatformSecret),
        [{"name": name, "value": secrets.token_urlsafe(48)}],
    )
    return str(
        await session.scalar(select(PlatformSecret.value).where(PlatformSecret.name == name))
    )


async def use_token(session: AsyncSession, nonce: str, incident_id: str, now: datetime) -> bool:
    """Record a link as used; False if it already was."""
    result = await session.execute(
        insert_ignoring_duplicates(session, UsedActionToken),
        [{"nonce": nonce, "incident_id": incident_id, "used_at": now}],
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- capture inbox --------------------------------------------------------------------------


async def list_mail(
    session: AsyncSession, *, to: str | None, limit: int, offset: int
) -> tuple[list[CapturedMail], int]:
    query = select(CapturedMail)
    if to:
        # JSON containment differs by dialect; the recipients column is small text either way.
        query = query.where(func.lower(cast(CapturedMail.rcpt_to, Text)).contains(to.lower()))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(CapturedMail.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def clear_mail(session: AsyncSession) -> int:
    result = await session.execute(delete(CapturedMail))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- webhooks -------------------------------------------------------------------------------


async def get_subscription(session: AsyncSession, subscription_id: str) -> WebhookSubscription:
    found = await session.get(WebhookSubscription, subscription_id[:36])
    if found is None:
        raise NotFound(f"no webhook subscription {subscription_id!r}", field="id")
    return found


async def list_subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    return list(
        await session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.created_at))
    )


async def active_subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
    return list(await session.scalars(query))


async def delivered(session: AsyncSession, subscription_id: str, event_id: str) -> bool:
    query = select(WebhookAttempt.id).where(
        WebhookAttempt.subscription_id == subscription_id,
        WebhookAttempt.event_id == event_id,
        WebhookAttempt.outcome == "delivered",
    )
    return (await session.scalar(query.limit(1))) is not None


async def attempts_of(
    session: AsyncSession, subscription_id: str, limit: int = 100
) -> list[WebhookAttempt]:
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.subscription_id == subscription_id)
        .order_by(WebhookAttempt.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


async def action_link_key(session: AsyncSession, configured: str | None) -> bytes:
    """The key of email action links: ACTION_LINK_SECRET, else the deployment's own."""
    if configured:
        return configured.encode()
    return (await platform_secret(session, "action_links")).encode()


async def latest_alert(session: AsyncSession, incident_id: str) -> dict[str, Any] | None:
    """The newest alert's stored payload, for the page's summary and details."""
    from oncallnova.db.models.incidents import Alert

    query = (
        select(Alert.payload)
        .where(Alert.incident_id == incident_id)
        .order_by(Alert.received_at.desc())
        .limit(1)
    )
    return await session.scalar(query)
