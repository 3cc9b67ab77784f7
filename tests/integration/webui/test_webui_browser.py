"""The console in a real browser (Chromium + Playwright): log in, watch an alert arrive on the
open dashboard, acknowledge it with a click, read its timeline, see what a viewer sees, find
who is on call, log out."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.helpers import Mesh, pd_event
from tests.integration.webui.browser import CHROMIUM_ARGS, chromium_path
from tests.integration.webui.console import Person, make_person, retire
from tests.integration.webui.seed import seed_world

pytestmark = pytest.mark.external

# Generous for a loaded 2-core machine; each wait ends as soon as its condition holds.
WAIT_MS = 30_000
# `expect(...)` does not follow the context's default timeout: it has its own (5 s), too short
# for an alert to cross the mesh and reach an open page while other processes take the CPU.
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (.ci/run installs the Debian package)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser, http_base: str) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(base_url=http_base, viewport={"width": 1280, "height": 900})
    made.set_default_timeout(WAIT_MS)
    yield made
    await made.close()


async def log_in(page: Page, person: Person, path: str = "/") -> None:
    await page.goto(path)
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.get_by_label("Username or email").fill(person.username)
    await page.get_by_label("Password").fill(person.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(lambda url: "/login" not in url)


async def test_alert_appears_live_is_acknowledged_and_has_a_timeline(
    context: BrowserContext, mesh: Mesh, service: dict[str, str]
) -> None:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    admin = await make_person(mesh, "admin")
    try:
        await live_dashboard_story(page, admin, mesh, service)
    finally:
        await retire(mesh, admin)
    assert not errors, errors


async def live_dashboard_story(
    page: Page, admin: Person, mesh: Mesh, service: dict[str, str]
) -> None:
    await log_in(page, admin)
    await expect(page.get_by_role("heading", name="Open incidents")).to_be_visible()
    await expect(page.locator("#live-status")).to_have_text("Live")

    # An alert arrives while the dashboard is open: its row appears without a reload.
    dedup = secrets.token_hex(4)
    summary = f"Checkout errors {dedup}"
    response = await mesh.api.post(
        "/v2/enqueue", json=pd_event(service["key"], dedup_key=dedup, summary=summary)
    )
    assert response.status_code == 202
    row = page.locator(f'tr[data-dedup="{dedup}"]')
    await expect(row).to_be_visible()
    await expect(row.locator(".badge.status-triggered")).to_have_text("triggered")

    # One click acknowledges it; the status changes in place.
    await row.get_by_role("button", name="Acknowledge").click()
    await expect(row.locator(".badge.status-acknowledged")).to_have_text("acknowledged")
    await expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)

    # Its page tells the story so far.
    await row.get_by_role("link", name=summary).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(summary)
    timeline = page.locator("#timeline")
    await expect(timeline.locator(".tl-triggered")).to_contain_text("Incident triggered")
    await expect(timeline.locator(".tl-acknowledged")).to_be_visible()
    await expect(timeline.locator(".tl-acknowledged")).to_contain_text(admin.username.split("-")[0])

    # A note added on the page shows up in the timeline live.
    await page.get_by_label("Add a note").fill("Rolled back the deploy")
    await page.get_by_role("button", name="Add note").click()
    await expect(timeline.locator(".tl-note_added")).to_contain_text("Rolled back the deploy")
    await page.get_by_text("Alerts and their raw payloads").scroll_into_view_if_needed()
    await expect(page.locator("details.payload pre").first).to_contain_text(dedup)


async def test_a_viewer_sees_no_action_buttons(
    context: BrowserContext, mesh: Mesh, service: dict[str, str]
) -> None:
    dedup = secrets.token_hex(4)
    response = await mesh.api.post("/v2/enqueue", json=pd_event(service["key"], dedup_key=dedup))
    assert response.status_code == 202
    page = await context.new_page()
    await log_in(page, await make_person(mesh, "viewer"))
    row = page.locator(f'tr[data-dedup="{dedup}"]')
    await expect(row).to_be_visible()
    await expect(page.locator(".role")).to_have_text("viewer")
    assert await page.locator("button[data-action]").count() == 0
    await row.get_by_role("link").first.click()
    await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    assert await page.get_by_role("button", name="Acknowledge").count() == 0
    assert await page.get_by_role("button", name="Resolve").count() == 0
    assert await page.get_by_label("Add a note").count() == 0


async def test_schedule_page_shows_who_is_on_call_then_logout(
    context: BrowserContext, mesh: Mesh
) -> None:
    suffix = secrets.token_hex(3)
    world = await seed_world(mesh.api, suffix)
    answer = await mesh.api.get("/api/v1/oncall", params={"schedule": world["schedule"]})
    expected = answer.json()["oncall"][0]["user"]["name"]
    page = await context.new_page()
    await log_in(page, await make_person(mesh, "responder", [world["team"]]))
    await page.get_by_role("link", name="On-call").click()
    card = page.locator(f'[data-schedule="{world["schedule"]}"]')
    await expect(card).to_contain_text(expected)
    await page.get_by_role("link", name=f"Payments primary {suffix}").click()
    await expect(page.locator("#on-call-now")).to_contain_text(expected)
    await expect(page.locator(".rota-row.final")).to_contain_text("Final rota")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_text("You are logged out.")).to_be_visible()
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
