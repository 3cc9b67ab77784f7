"""Paging scenarios: the whole mesh in one process on a fast-forwarded clock, the real
database and broker, a real SMTP server and a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
from typing import Any

from sqlalchemy import select

from oncallnova.db.models.paging import Notification
from oncallnova.paging.webhook_events import SUBSCRIBABLE
from tests.helpers import eventually
from tests.paging_helpers import HttpReceiver, Paging, paging_mesh

LINK = re.compile(r"http://oncallnova\.test(/api/v1/actions/[^\s\"<>]+)")


def links(text: str) -> dict[str, str]:
    """The Acknowledge and Resolve links of a page, by action."""
    found = {}
    for path in LINK.findall(text):
        action = path.split("?")[0].rsplit("/", 1)[1]
        found[action] = path.replace("&amp;", "&")
    return found


async def two_level_service(p: Paging, **service: Any) -> tuple[dict, dict, dict]:
    ada, bob = await p.user("ada"), await p.user("bob")
    policy = await p.policy(
        [[{"type": "user", "id": ada["id"]}], [{"type": "user", "id": bob["id"]}]]
    )
    return ada, bob, await p.service(policy["id"], **service)


async def test_trigger_pages_level_one_then_level_two_after_the_delay_and_ack_stops_it() -> None:
    async with paging_mesh() as p:
        ada, bob, service = await two_level_service(p)
        incident_id = await p.trigger(service["integration_key"], "disk-db1")

        [page] = await p.mail_to(ada["email"])
        assert "Disk full on db1" in page.message["Subject"]
        for expected in ("critical", "high", "triggered", service["name"], "free: 0.5%"):
            assert expected in page.text, expected
        assert set(links(page.text)) == {"acknowledge", "resolve"}
        assert "Acknowledge</a>" in page.html and page.message["Message-ID"]

        p.clock.advance(minutes=29)
        await p.settle()
        assert p.smtp.to(bob["email"]) == []  # not yet: level 1 has 30 minutes

        p.clock.advance(minutes=1, seconds=1)
        [escalated] = await p.mail_to(bob["email"])
        assert "level 2" in escalated.text
        assert (await p.incident(incident_id))["escalation_level"] == 1

        ack = await p.api.post(f"/api/v1/incidents/{incident_id}/acknowledge")
        assert ack.status_code == 202
        await eventually(lambda: _status(p, incident_id, "acknowledged"))
        before = len(p.smtp.received)
        p.clock.advance(hours=3)
        await p.settle()
        assert len(p.smtp.received) == before  # acknowledged: nobody else is paged

        kinds = [e["kind"] for e in await p.timeline(incident_id)]
        assert kinds.count("paged") == 2 and kinds.count("notification_sent") >= 2
        listed = await p.api.get(f"/api/v1/incidents/{incident_id}/notifications")
        assert {n["status"] for n in listed.json()["notifications"]} == {"sent"}


async def _status(p: Paging, incident_id: str, status: str) -> bool:
    return (await p.incident(incident_id))["status"] == status


async def test_loops_stop_after_num_loops_and_a_service_without_policy_pages_nobody() -> None:
    async with paging_mesh() as p:
        ada = await p.user("ada")
        policy = await p.policy([[{"type": "user", "id": ada["id"]}]], num_loops=1)
        service = await p.service(policy["id"])
        incident_id = await p.trigger(service["integration_key"], "loops")
        await p.mail_to(ada["email"], 1)
        p.clock.advance(minutes=31)
        await p.mail_to(ada["email"], 2)  # the second pass
        for _ in range(3):
            p.clock.advance(minutes=31)
            await p.settle()
        assert len(p.smtp.to(ada["email"])) == 2
        kinds = [e["kind"] for e in await p.timeline(incident_id)]
        assert "escalation_exhausted" in kinds or kinds.count("paged") == 2

        lonely = await p.service(None)
        lonely_id = await p.trigger(lonely["integration_key"], "nobody")

        async def skipped() -> Any:
            return [e for e in await p.timeline(lonely_id) if e["kind"] == "paging_skipped"]

        [entry] = await eventually(skipped)
        assert "no escalation policy" in entry["message"]


async def test_a_schedule_target_pages_whoever_is_on_call_at_that_moment() -> None:
    async with paging_mesh() as p:
        ada, cy = await p.user("ada"), await p.user("cy")
        start = (p.clock.now.replace(hour=0, minute=0, second=0)).strftime("%Y-%m-%dT%H:%M:%S")
        schedule = await p.post(
            "/api/v1/schedules",
            {
                "name": "primary",
                "time_zone": "UTC",
                "layers": [{"users": [ada["id"]], "rotation_start": start, "turn_unit": "days"}],
            },
        )
        # Cy covers the next hour: the page must go to Cy, not to the layer's Ada.
        await p.post(
            f"/api/v1/schedules/{schedule['id']}/overrides",
            {
                "user_id": cy["id"],
                "start": p.clock.now.isoformat(),
                "end": (p.clock.now.replace(microsecond=0)).isoformat().replace("+00:00", "Z")
                if False
                else _plus(p.clock.now, minutes=60),
            },
        )
        policy = await p.policy([[{"type": "schedule", "id": schedule["id"]}]], num_loops=1)
        service = await p.service(policy["id"])
        await p.trigger(service["integration_key"], "sched")
        await p.mail_to(cy["email"])
        assert p.smtp.to(ada["email"]) == []
        # Two hours later the override is over: the second pass pages Ada.
        p.clock.advance(minutes=90)
        await p.mail_to(ada["email"])


def _plus(moment: Any, **delta: float) -> str:
    from datetime import timedelta

    return (moment + timedelta(**delta)).isoformat()


async def test_the_acknowledge_link_works_once_for_its_incident_until_it_expires() -> None:
    async with paging_mesh() as p:
        ada, _, service = await two_level_service(p)
        first = await p.trigger(service["integration_key"], "one", "First problem")
        [page] = await p.mail_to(ada["email"])
        second = await p.trigger(service["integration_key"], "two", "Second problem")
        await p.mail_to(ada["email"], 2)
        ack = links(page.text)["acknowledge"]
        assert f"/actions/{first}/" in ack

        other = await p.api.get(ack.replace(first, second))
        assert other.status_code == 403 and other.json()["error"]["field"] == "token"
        forged = await p.api.get(ack[:-3] + "AAA")
        assert forged.status_code == 403

        used = await p.api.get(ack)
        assert used.status_code == 202
        await eventually(lambda: _status(p, first, "acknowledged"))
        again = await p.api.get(ack)
        assert again.status_code == 410

        later = [m for m in p.smtp.to(ada["email"]) if "Second problem" in m.message["Subject"]]
        resolve = links(later[0].text)["resolve"]
        p.clock.advance(hours=24, seconds=1)
        expired = await p.api.get(resolve)
        assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]
        assert (await p.incident(second))["status"] == "triggered"


async def test_webhook_is_signed_retried_after_500s_and_delivered_once() -> None:
    receiver = HttpReceiver([500, 500])
    await receiver.start()
    try:
        async with paging_mesh() as p:
            service = await p.service(None)
            created = await p.post(
                "/api/v1/webhook_subscriptions",
                {
                    "webhook_subscription": {
                        "type": "webhook_subscription",
                        "delivery_method": {"type": "http_delivery_method", "url": receiver.url},
                        "events": ["incident.triggered"],
                        "filter": {"type": "service_reference", "id": service["id"]},
                    }
                },
            )
            sub = created["webhook_subscription"]
            secret = sub["delivery_method"]["secret"]
            assert secret and len(secret) >= 32
            shown = await p.api.get(f"/api/v1/webhook_subscriptions/{sub['id']}")
            assert shown.json()["webhook_subscription"]["delivery_method"]["secret"] is None

            incident_id = await p.trigger(service["integration_key"], "hook")
            await eventually(lambda: _delivered(receiver))
            await asyncio.sleep(0.5)  # no further attempt after the 200
            assert [r.status for r in receiver.requests] == [500, 500, 200]
            ids = {r.headers["webhook-id"] for r in receiver.requests}
            assert len(ids) == 1  # the same event id on every retry

            got = receiver.requests[-1]
            body = got.body
            pd = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(got.headers["x-pagerduty-signature"], pd)
            signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode()
            mac = hmac.new(secret.encode(), signed + body, hashlib.sha256).digest()
            assert got.headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
            event = json.loads(body)["event"]
            assert event["event_type"] == "incident.triggered"
            assert event["resource_type"] == "incident"
            assert event["data"]["id"] == incident_id and event["data"]["status"] == "triggered"
            assert event["id"] == got.headers["webhook-id"]

            log = await p.api.get(f"/api/v1/webhook_subscriptions/{sub['id']}/deliveries")
            outcomes = [d["outcome"] for d in reversed(log.json()["deliveries"])]
            assert outcomes == ["retrying", "retrying", "delivered"]
    finally:
        await receiver.stop()


async def _delivered(receiver: HttpReceiver) -> bool:
    return any(r.status == 200 for r in receiver.requests)


async def test_a_failing_receiver_is_not_retried_on_404_and_pauses_the_subscription() -> None:
    receiver = HttpReceiver([404, 503, 503, 503, 503, 503, 503])
    await receiver.start()
    try:
        async with paging_mesh(webhook_pause_after=3) as p:
            service = await p.service(None)
            created = await p.post(
                "/api/v1/webhook_subscriptions",
                {
                    "webhook_subscription": {
                        "delivery_method": {"url": receiver.url},
                        "events": list(SUBSCRIBABLE),
                        "filter": {"type": "account_reference"},
                    }
                },
            )
            sub_id = created["webhook_subscription"]["id"]
            incident_id = await p.trigger(service["integration_key"], "gone")
            await eventually(lambda: _at_least(_count(receiver), 1))
            await p.api.post(f"/api/v1/incidents/{incident_id}/acknowledge")
            await eventually(lambda: _paused(p, sub_id))
            # 404 once (not retried), then 503 twice: three failures in a row pause it.
            assert [r.status for r in receiver.requests] == [404, 503, 503]
            enabled = await p.api.post(f"/api/v1/webhook_subscriptions/{sub_id}/enable")
            assert enabled.json()["webhook_subscription"]["active"] is True
    finally:
        await receiver.stop()


def _count(receiver: HttpReceiver) -> Any:
    async def count() -> int:
        return len(receiver.requests)

    return count


async def _paused(p: Paging, sub_id: str) -> bool:
    response = await p.api.get(f"/api/v1/webhook_subscriptions/{sub_id}")
    sub = response.json()["webhook_subscription"]
    return sub["active"] is False and "paused after 3" in (sub["paused_reason"] or "")


async def test_the_notifier_killed_mid_batch_and_restarted_sends_every_email_once() -> None:
    async with paging_mesh() as p:
        users = [await p.user(f"u{i}") for i in range(6)]
        policy = await p.policy([[{"type": "user", "id": u["id"]} for u in users]])
        service = await p.service(policy["id"])
        # Each message waits longer before its 250: the kill lands while some are in flight.
        p.smtp.delays = [0.0, 0.0, 5.0, 5.0, 5.0, 5.0]
        await p.trigger(service["integration_key"], "kill")

        async def sent_rows() -> int:
            async with p.mesh.ctx.sessions() as session:
                rows = await session.scalars(select(Notification.status))
                return sum(1 for s in rows if s == "sent")

        await eventually(lambda: _at_least(sent_rows, 2))
        task = next(t for t in p.mesh.platform.tasks if t.get_name() == "worker:notifier")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert len(p.smtp.received) < 6  # killed mid-batch

        from oncallnova.bus.runtime import WorkerRunner
        from workers.notifier import NotifierWorker

        runner = WorkerRunner(p.mesh.ctx.bus, NotifierWorker(p.mesh.ctx), p.mesh.ctx.sessions)
        restarted = asyncio.create_task(runner.run())
        try:
            for user in users:
                await p.mail_to(user["email"], timeout=20)
            await asyncio.sleep(0.5)
            ids = [m.message["Message-ID"] for m in p.smtp.received]
            assert len(ids) == 6 and len(set(ids)) == 6, ids
        finally:
            runner.stop()
            await asyncio.wait_for(restarted, 10)


async def _at_least(count: Any, wanted: int) -> bool:
    return await count() >= wanted


async def test_manual_escalate_reassign_and_the_service_timeouts() -> None:
    async with paging_mesh() as p:
        ada, bob, service = await two_level_service(
            p, acknowledgement_timeout=600, auto_resolve_timeout=7200
        )
        cy = await p.user("cy")
        incident_id = await p.trigger(service["integration_key"], "manual")
        await p.mail_to(ada["email"])

        # Manual escalate: level 2 now, not in 30 minutes.
        assert (await p.api.post(f"/api/v1/incidents/{incident_id}/escalate")).status_code == 202
        await p.mail_to(bob["email"])
        # Reassign: the new assignee is paged.
        reassigned = await p.api.post(
            f"/api/v1/incidents/{incident_id}/reassign", json={"assignee_id": cy["id"]}
        )
        assert reassigned.status_code == 202
        await p.mail_to(cy["email"])

        # Acknowledged, then the acknowledgement runs out: it triggers and pages again.
        await p.api.post(f"/api/v1/incidents/{incident_id}/acknowledge")
        await eventually(lambda: _status(p, incident_id, "acknowledged"))
        bob_before = len(p.smtp.to(bob["email"]))
        p.clock.advance(minutes=10, seconds=1)
        await eventually(lambda: _status(p, incident_id, "triggered"))
        await p.mail_to(bob["email"], bob_before + 1)  # the level reached (2) is paged again

        # Two hours after it opened, it resolves itself.
        p.clock.advance(minutes=111)
        await eventually(lambda: _status(p, incident_id, "resolved"))
        timeline = await p.timeline(incident_id)
        assert any(e["actor"] == "system:auto_resolve" for e in timeline)
