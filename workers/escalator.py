"""Escalator: pages the level an incident has reached and keeps its durable timers.

Consumes: `incident.<event>.v1.*` (durable `escalator`): triggered pages level 1; escalated
          pages the level reached; reassigned pages the new assignee; acknowledged starts the
          service's acknowledgement timeout; resolved cancels what is pending.
Emits:    `notification.requested.v1.email` (one per user, rule and contact method) and, when a
          timer is due, `incident.command.v1.<id>` escalate/resolve commands carrying the
          incident's escalation epoch — the lifecycle applies them only while the epoch still
          matches (checked under the incident's row lock), so a stale step does nothing.
Timers:   rows in `escalation_timers` (PostgreSQL): durable across restarts of every process;
          a poller every `ESCALATOR_TICK` seconds fires the due ones (SKIP LOCKED lets copies
          share them), publishing before it marks them fired, with ids fixed by the timer.
Idempotency: timers, notifications and timeline entries are keyed by (incident, epoch, step,
          …); a redelivered event inserts nothing new and re-publishes under the same ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession

from oncallnova.bus.connection import Outgoing
from oncallnova.bus.runtime import Delivery, UnitOfWork, Worker, parse
from oncallnova.context import AppContext
from oncallnova.db.models.incidents import Service
from oncallnova.db.models.paging import EscalationTimer
from oncallnova.db.repositories import oncall as oncall_repo
from oncallnova.db.repositories import paging as repo
from oncallnova.errors import NotFound
from oncallnova.oncall.escalation import who_is_paged
from oncallnova.paging.steps import (
    Rule,
    next_step_due,
    notification_key,
    rules_for,
    step_label,
    step_of,
    total_steps,
)
from oncallnova.paging.webhook_events import ACK_TIMEOUT_ACTOR
from schemas.envelope import Envelope
from schemas.incident_v1 import IncidentCommandV1, IncidentEventV1, IncidentV1
from schemas.paging_v1 import NotificationRequestedV1
from schemas.subjects import INCIDENT_COMMAND, NOTIFICATION_REQUESTED

log = logging.getLogger(__name__)

ACTOR = "system:escalator"
FIRE_LIMIT = 500  # timers fired per poll; more are taken on the next turn without sleeping


class EscalatorWorker(Worker[IncidentEventV1]):
    consumer = "escalator"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._poller: asyncio.Task[None] | None = None
        # Seconds between due and fired of the most recent timers (benchmarks read it).
        self.lateness: deque[float] = deque(maxlen=100_000)
        self.fired = 0
        # Batches on different incidents may overlap (one writer on SQLite).
        self.concurrency = 1 if ctx.engine.dialect.name == "sqlite" else 2

    def conflict_keys(self, batch: list[Delivery[IncidentEventV1]]) -> set[str] | None:
        """An incident's facts are paged in order: batches sharing one run one after another."""
        return {d.data.incident.id for d in batch}

    # --- the durable timers ----------------------------------------------------------------

    async def start(self) -> None:
        self._poller = asyncio.create_task(self._poll_forever(), name="escalator:timers")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    async def _poll_forever(self) -> None:
        while True:
            try:
                fired = await self.fire_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # an outage: try again on the next tick
                log.warning("escalator: firing timers failed", exc_info=True)
                fired = 0
            if fired == 0:
                await asyncio.sleep(self.ctx.settings.escalator_tick)

    async def fire_due(self) -> int:
        """Take the timers due within the next two ticks (locked, so copies share them) and
        fire each when the clock reaches it; returns how many fired.

        Looking ahead keeps the poll interval and the query out of the lateness: a timer is
        fired when due, not at the next tick after it."""
        tick = self.ctx.settings.escalator_tick
        horizon = self.ctx.clock() + timedelta(seconds=2 * tick)
        async with self.ctx.sessions() as session:
            timers = await repo.due_timers(session, horizon, FIRE_LIMIT)
            if not timers:
                return 0
            index = 0
            while index < len(timers):
                now = self.ctx.clock()
                if timers[index].due_at > now:
                    wait = (timers[index].due_at - now).total_seconds()
                    # Short steps: a test's clock may jump forward meanwhile.
                    await asyncio.sleep(min(wait, 0.01))
                    continue
                due = []
                while index < len(timers) and timers[index].due_at <= now:
                    due.append(timers[index])
                    index += 1
                outgoing: list[Outgoing] = []
                for timer in due:
                    outgoing.extend(await self._fire(session, timer))
                # Published before the timers are marked: a crash in between fires them again
                # under the same ids (JetStream drops the copy; the lifecycle's fence drops a
                # late one), where the other order could lose a page.
                await self.ctx.bus.publish_all(outgoing)
                wall = time.time()
                self.lateness.extend(wall - t.due_at.timestamp() for t in due)
            await repo.mark_fired(session, [t.id for t in timers], self.ctx.clock())
            await session.commit()
        self.fired += len(timers)
        return len(timers)

    async def _fire(self, session: AsyncSession, timer: EscalationTimer) -> list[Outgoing]:
        envelope = Envelope(id=f"timer:{timer.id}", type="", producer="escalator")
        if timer.kind in ("escalate", "ack_timeout", "auto_resolve"):
            command = IncidentCommandV1(
                action="resolve" if timer.kind == "auto_resolve" else "escalate",
                incident_id=timer.incident_id,
                escalation_level=timer.data.get("step"),
                # Auto-resolve applies whatever happened since; steps only if nothing did.
                escalation_epoch=None if timer.kind == "auto_resolve" else timer.epoch,
                actor={
                    "escalate": ACTOR,
                    "ack_timeout": ACK_TIMEOUT_ACTOR,
                    "auto_resolve": "system:auto_resolve",
                }[timer.kind],
            )
            envelope = envelope.model_copy(update={"type": INCIDENT_COMMAND.type()})
            return [Outgoing.of(INCIDENT_COMMAND, timer.incident_id, command, envelope)]
        if timer.kind == "notify":
            # A delayed notification rule: only while nobody has acted on this step.
            fence = await repo.incident_fence(session, timer.incident_id)
            if fence != ("triggered", timer.epoch):
                return []
            request = NotificationRequestedV1.model_validate(timer.data)
            envelope = envelope.model_copy(
                update={"id": request.notification_id, "type": NOTIFICATION_REQUESTED.type()}
            )
            return [Outgoing.of(NOTIFICATION_REQUESTED, request.channel, request, envelope)]
        log.warning("escalator: unknown timer kind %s", timer.kind)
        return []

    # --- incident facts --------------------------------------------------------------------

    def decode(self, subject: str, envelope: Envelope, msg: Msg) -> IncidentEventV1:
        return parse(IncidentEventV1, msg)

    async def handle(self, batch: list[Delivery[IncidentEventV1]], uow: UnitOfWork) -> None:
        cache = BatchCache()
        for delivery in batch:
            await Paging(self.ctx, uow, delivery, cache).on_event()
        await repo.add_timers(uow.session, cache.timers)
        await repo.add_timeline(uow.session, cache.timeline)


@dataclass
class BatchCache:
    """What one batch loads once however many incidents it pages, and what it writes at the
    end in one statement each."""

    policies: dict[str, Any] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    timers: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


class Paging:
    """What one incident fact means for paging, inside the batch's unit of work."""

    def __init__(
        self,
        ctx: AppContext,
        uow: UnitOfWork,
        delivery: Delivery[IncidentEventV1],
        cache: BatchCache,
    ) -> None:
        self.ctx = ctx
        self.uow = uow
        self.session = uow.session
        self.event = delivery.data
        self.envelope = delivery.envelope
        self.incident: IncidentV1 = delivery.data.incident
        # The fact's own time (the lifecycle's clock): the same on every redelivery.
        self.at: datetime = self.incident.updated_at
        self.cache = cache
        self.timers = cache.timers
        self.timeline = cache.timeline

    async def on_event(self) -> None:
        event, incident = self.event.event, self.incident
        service = await self.session.get(Service, incident.service_id)
        if service is None:
            return
        if event == "triggered" and self.event.notify:
            if service.auto_resolve_timeout:
                self._timer(
                    "auto_resolve",
                    "auto_resolve",
                    incident.created_at + timedelta(seconds=service.auto_resolve_timeout),
                    {},
                )
            await self._page(service, incident.escalation_level)
        elif event == "escalated":
            await self._page(service, incident.escalation_level)
        elif event == "reassigned" and incident.assignee_id:
            await self._page(service, incident.escalation_level, users=[incident.assignee_id])
        elif event == "acknowledged" and service.acknowledgement_timeout:
            self._timer(
                f"e{incident.escalation_epoch}:ack_timeout",
                "ack_timeout",
                self.at + timedelta(seconds=service.acknowledgement_timeout),
                {"step": incident.escalation_level},
            )
        elif event == "resolved":
            await repo.cancel_timers(self.session, incident.id, self.at)

    async def _page(self, service: Service, number: int, users: list[str] | None = None) -> None:
        """Page step `number` of the service's policy (or `users`, for a reassignment) and
        set the timer of the next step."""
        incident = self.incident
        label = step_label(incident.escalation_epoch, number) + (".r" if users else "")
        policy = schedules = None
        policy_id = service.escalation_policy_id
        if policy_id is not None:
            if policy_id not in self.cache.policies:
                # Schedules are loaded for a window around `at`: good for every event of a batch.
                loaded = None
                with contextlib.suppress(NotFound):
                    loaded = await oncall_repo.load_policy(self.session, policy_id, self.at)
                self.cache.policies[policy_id] = loaded
            if self.cache.policies[policy_id] is not None:
                policy, schedules = self.cache.policies[policy_id]
        if policy is None and users is None:
            why = (
                "has no escalation policy"
                if service.escalation_policy_id is None
                else f"points at escalation policy {service.escalation_policy_id}, which no "
                "longer exists"
            )
            self._note("paging_skipped", label, f"Nobody paged: service {service.name} {why}")
            return
        step = step_of(policy, number) if policy is not None else None
        if users is None:
            assert policy is not None and schedules is not None
            if step is None:
                self._note(
                    "escalation_exhausted",
                    label,
                    f"Escalation stopped: all {total_steps(policy)} steps of the policy "
                    f"({len(policy.levels)} levels, num_loops {policy.num_loops}) were paged",
                )
                return
            users = []
            for page in who_is_paged(policy, schedules, step.level, self.at):
                if page.user_id is None:
                    self._note(
                        "paging_gap",
                        f"{label}:{page.target.id}",
                        f"Level {step.level}: nobody is on call in schedule {page.target.id}",
                    )
                elif page.user_id not in users:
                    users.append(page.user_id)
        where = f"level {step.level}" if step else "reassigned"
        names = await self._notify(users, label, where)
        self._note(
            "paged",
            label,
            f"Paging {', '.join(names) or 'nobody'} ({where}"
            + (f", pass {step.loop + 1})" if step else ")"),
            {"users": users, "step": number, "level": step.level if step else None},
        )
        due = next_step_due(step, self.at) if step else None
        if due is not None:
            self._timer(
                f"e{incident.escalation_epoch}:escalate", "escalate", due, {"step": number + 1}
            )

    async def _notify(self, user_ids: list[str], label: str, where: str) -> list[str]:
        """One notification request per user, rule and contact method; delayed rules become
        timers. Returns the names of the users paged."""
        incident = self.incident
        missing = [u for u in user_ids if u not in self.cache.users]
        if missing:
            found = await oncall_repo.users_by_id(self.session, missing)
            for user_id in missing:
                self.cache.users[user_id] = found.get(user_id)
        names = []
        for user_id in user_ids:
            user = self.cache.users[user_id]
            if user is None:
                self._note("paging_gap", f"{label}:{user_id}", f"User {user_id} does not exist")
                continue
            names.append(user.name)
            if user_id not in self.cache.rules:
                rows = await repo.rules_of(self.session, user)
                self.cache.rules[user_id] = [repo.rule_domain(r) for r in rows]
            for rule in rules_for(self.cache.rules[user_id], incident.urgency):
                key = notification_key(incident.id, label, user_id, rule)
                request = NotificationRequestedV1(
                    notification_id=key,
                    channel="email",
                    address=rule.address,
                    user_id=user_id,
                    rule_id=rule.id,
                    step=label,
                    urgency=incident.urgency,  # type: ignore[arg-type]
                    reason=f"You are paged for {where} of the escalation.",
                    incident=incident,
                )
                if rule.start_delay_in_minutes:
                    self.timers.append(
                        {
                            "id": key,
                            "incident_id": incident.id,
                            "kind": "notify",
                            "epoch": incident.escalation_epoch,
                            "due_at": self.at + timedelta(minutes=rule.start_delay_in_minutes),
                            "data": request.model_dump(mode="json"),
                            "created_at": self.at,
                        }
                    )
                    continue
                envelope = self.envelope.caused(NOTIFICATION_REQUESTED.type(), "escalator", id=key)
                self.uow.publish(Outgoing.of(NOTIFICATION_REQUESTED, "email", request, envelope))
        return names

    def _timer(self, name: str, kind: str, due: datetime, data: dict[str, Any]) -> None:
        self.timers.append(
            {
                "id": f"{self.incident.id}:{name}",
                "incident_id": self.incident.id,
                "kind": kind,
                "epoch": self.incident.escalation_epoch,
                "due_at": due,
                "data": data,
                "created_at": self.at,
            }
        )

    def _note(
        self, kind: str, source: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        self.timeline.append(
            {
                "incident_id": self.incident.id,
                "at": self.at,
                "kind": kind,
                "actor": ACTOR,
                "message": message,
                "source_id": f"esc:{source}"[:100],
                "data": data or {},
            }
        )
