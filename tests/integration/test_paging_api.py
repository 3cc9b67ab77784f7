"""Paging REST: webhook subscriptions (PagerDuty v3 shape, SSRF refusals), notification rules,
the capture inbox routes and action links — bad input gets a 4xx naming the field."""

from __future__ import annotations

from typing import Any

from oncallnova.db.models.paging import WebhookSubscription
from oncallnova.db.types import utcnow
from tests.helpers import eventually
from tests.paging_helpers import paging_mesh

URL_FIELD = "webhook_subscription.delivery_method.url"


def subscription(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "webhook_subscription": {
            "type": "webhook_subscription",
            "delivery_method": {"type": "http_delivery_method", "url": url},
            "events": ["incident.triggered", "incident.resolved"],
            "filter": {"type": "account_reference"},
            **extra,
        }
    }


def field_of(response: Any) -> str:
    return response.json()["error"]["field"]


async def test_ssrf_targets_are_refused_at_subscription_and_at_delivery() -> None:
    async with paging_mesh(webhook_allowed_hosts="") as p:
        for url in (
            "http://127.0.0.1/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/hook",
            "http://localhost./hook",
            "http://2130706433/",
            "http://localhost:8080/hook",  # a name that resolves to loopback
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ):
            response = await p.api.post("/api/v1/webhook_subscriptions", json=subscription(url))
            assert response.status_code == 422, (url, response.text)
            assert field_of(response) == URL_FIELD, url

        # A subscription stored before its name pointed inside is refused when delivering.
        async with p.mesh.ctx.sessions.begin() as session:
            session.add(
                WebhookSubscription(
                    id="0b7f0c3e-0000-4000-8000-000000000001",
                    url="http://127.0.0.1:9/hook",
                    secret="s" * 32,
                    events=["incident.triggered"],
                    filter_type="account_reference",
                    custom_headers=[],
                    active=True,
                    consecutive_failures=0,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
        service = await p.service(None)
        await p.trigger(service["integration_key"], "ssrf")

        async def refused() -> Any:
            response = await p.api.get(
                "/api/v1/webhook_subscriptions/0b7f0c3e-0000-4000-8000-000000000001/deliveries"
            )
            return [d for d in response.json()["deliveries"] if d["outcome"] == "refused"]

        [attempt] = await eventually(refused)
        assert "loopback" in attempt["error"]


async def test_webhook_subscription_lifecycle_and_bad_input() -> None:
    async with paging_mesh() as p:
        api = p.api
        base = "/api/v1/webhook_subscriptions"
        bad = [
            ({"webhook_subscription": {"events": ["incident.triggered"]}}, "webhook_subscription.delivery_method"),
            (subscription("ftp://example.com/x"), URL_FIELD),
            (subscription("not a url"), URL_FIELD),
            (subscription("http://127.0.0.1:1/", events=["incident.exploded"]), "webhook_subscription.events"),
            (subscription("http://127.0.0.1:1/", events=[]), "webhook_subscription.events"),
            (subscription("http://127.0.0.1:1/", filter={"type": "planet"}), "webhook_subscription.filter.type"),
            (subscription("http://127.0.0.1:1/", filter={"type": "service_reference"}), "webhook_subscription.filter.id"),
            (subscription("http://127.0.0.1:1/", filter={"type": "service_reference", "id": "nope"}), "webhook_subscription.filter.id"),
            ({}, "webhook_subscription"),
        ]  # fmt: skip
        for body, field in bad:
            response = await api.post(base, json=body)
            assert response.status_code == 422, (body, response.text)
            assert field_of(response) == field, (body, response.text)
        assert (
            await api.post(base, content=b"{nope", headers={"content-type": "application/json"})
        ).status_code == 422

        created = (await api.post(base, json=subscription("http://127.0.0.1:1/hook"))).json()
        sub = created["webhook_subscription"]
        assert sub["active"] is True and sub["delivery_method"]["secret"]
        sub_id = sub["id"]
        listed = (await api.get(base)).json()["webhook_subscriptions"]
        assert [s["id"] for s in listed] == [sub_id] and listed[0]["delivery_method"][
            "secret"
        ] is None

        paused = await api.put(f"{base}/{sub_id}", json={"webhook_subscription": {"active": False}})
        assert paused.json()["webhook_subscription"]["active"] is False
        changed = await api.put(
            f"{base}/{sub_id}", json={"webhook_subscription": {"events": ["incident.acknowledged"]}}
        )
        assert changed.json()["webhook_subscription"]["events"] == ["incident.acknowledged"]
        wrong = await api.put(f"{base}/{sub_id}", json={"webhook_subscription": {"events": ["x"]}})
        assert wrong.status_code == 422 and field_of(wrong) == "webhook_subscription.events"
        inside = await api.put(
            f"{base}/{sub_id}",
            json={"webhook_subscription": {"delivery_method": {"url": "http://10.0.0.1/"}}},
        )
        assert inside.status_code == 422 and field_of(inside) == URL_FIELD
        assert (await api.post(f"{base}/{sub_id}/enable")).json()["webhook_subscription"]["active"]
        assert (await api.post(f"{base}/{sub_id}/pause")).json()["webhook_subscription"][
            "active"
        ] is False
        limit = await api.get(f"{base}/{sub_id}/deliveries", params={"limit": 0})
        assert limit.status_code == 422 and field_of(limit) == "limit"
        assert (await api.delete(f"{base}/{sub_id}")).status_code == 204
        for method, path in (("get", f"{base}/{sub_id}"), ("post", f"{base}/{sub_id}/enable"),
                             ("delete", f"{base}/{sub_id}")):  # fmt: skip
            gone = await api.request(method.upper(), path)
            assert gone.status_code == 404 and field_of(gone) == "id"


async def test_notification_rules_default_crud_and_bad_input() -> None:
    async with paging_mesh() as p:
        api = p.api
        ada = await p.user("ada")
        base = f"/api/v1/users/{ada['id']}/notification_rules"
        defaults = (await api.get(base)).json()["notification_rules"]
        assert {(r["urgency"], r["start_delay_in_minutes"]) for r in defaults} == {
            ("high", 0),
            ("low", 0),
        }
        assert {r["contact_method"]["address"] for r in defaults} == {ada["email"]}

        rule = {
            "notification_rule": {
                "type": "assignment_notification_rule",
                "start_delay_in_minutes": 5,
                "contact_method": {"type": "email_contact_method", "address": ada["email"]},
                "urgency": "high",
            }
        }
        created = await api.post(base, json=rule)
        assert created.status_code == 201, created.text
        rule_id = created.json()["notification_rule"]["id"]
        assert len((await api.get(base)).json()["notification_rules"]) == 3
        rule["notification_rule"]["urgency"] = "low"
        updated = await api.put(f"{base}/{rule_id}", json=rule)
        assert updated.json()["notification_rule"]["urgency"] == "low"
        assert (await api.get(f"{base}/{rule_id}")).status_code == 200
        assert (await api.delete(f"{base}/{rule_id}")).status_code == 204
        assert (await api.get(f"{base}/{rule_id}")).status_code == 404

        def with_(**change: Any) -> dict[str, Any]:
            body = {**rule["notification_rule"], **change}
            return {"notification_rule": body}

        bad = [
            (with_(urgency="medium"), "notification_rule.urgency"),
            (with_(start_delay_in_minutes=-1), "notification_rule.start_delay_in_minutes"),
            (with_(contact_method={"type": "email", "address": "other@example.com"}), "notification_rule.contact_method.address"),
            (with_(contact_method={"type": "sms_contact_method", "address": "+1"}), "notification_rule.contact_method.type"),
            ({"start_delay_in_minutes": "soon", "contact_method": {"address": ada["email"]}}, "start_delay_in_minutes"),
        ]  # fmt: skip
        for body, field in bad:
            response = await api.post(base, json=body)
            assert response.status_code == 422, (body, response.text)
            assert field_of(response) == field, response.text
        unknown = await api.get("/api/v1/users/no-such-user/notification_rules")
        assert unknown.status_code == 404


async def test_inbox_action_link_and_service_timeout_bad_input() -> None:
    async with paging_mesh() as p:
        api = p.api
        checks = [
            (await api.get("/api/v1/mail", params={"limit": 0}), 422, "limit"),
            (await api.get("/api/v1/mail/abc"), 422, "mail_id"),
            (await api.get("/api/v1/mail/987654"), 404, "mail_id"),
            (await api.get("/api/v1/actions/x/explode", params={"token": "t" * 20}), 422, "action"),
            (await api.get("/api/v1/actions/x/acknowledge"), 422, "token"),
            (await api.get("/api/v1/actions/x/acknowledge", params={"token": "t" * 20}), 403, "token"),
            (await api.get("/api/v1/incidents/nope/notifications"), 404, "id"),
            (await api.post("/api/v1/services", json={"name": "s", "acknowledgement_timeout": 5}), 422, "acknowledgement_timeout"),
            (await api.post("/api/v1/services", json={"name": "s", "auto_resolve_timeout": "x"}), 422, "auto_resolve_timeout"),
        ]  # fmt: skip
        for response, status, field in checks:
            assert response.status_code == status, response.text
            assert field_of(response) == field, response.text
        service = await p.service(None, acknowledgement_timeout=600, auto_resolve_timeout=3600)
        assert service["acknowledgement_timeout"] == 600
        assert service["auto_resolve_timeout"] == 3600
