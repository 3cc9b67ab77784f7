"""Screenshots of the console's main pages for the README, from a seeded platform.

    .venv/bin/python -m tests.integration.webui.screenshots [docs/screenshots]

Runs the mesh on the machine's PostgreSQL, Redis and NATS in a namespace of its own (removed
afterwards), seeds people, a schedule, a policy, a service and a few incidents, and captures
each page in Chromium, light and dark, desktop and phone.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import uvicorn
from playwright.async_api import async_playwright

from app.http import create_app
from app.supervisor import QuietServer
from oncallnova.db.models.oncall import User
from tests.helpers import eventually, namespaced_mesh, pd_event
from tests.integration.webui.browser import CHROMIUM_ARGS, chromium_path
from tests.integration.webui.console import make_person
from tests.integration.webui.seed import seed_world

ALERTS = [
    ("critical", "Checkout latency p99 above 2 s", "checkout-latency"),
    ("error", "Payment provider answers 502", "psp-502"),
    ("warning", "Disk 85 % full on db-2", "db2-disk"),
    ("info", "TLS certificate expires in 20 days", "tls-expiry"),
    ("critical", "Card authorisations failing in eu-west-1", "auth-fail"),
]


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    async with namespaced_mesh() as mesh:
        world = await seed_world(mesh.api, "demo")
        key = world["service"]["integration_key"]
        for severity, summary, dedup in ALERTS:
            body = pd_event(key, dedup_key=dedup, summary=summary, severity=severity,
                            source="web-3", custom_details={"region": "eu-west-1", "runbook": "https://runbooks.example/checkout"})  # fmt: skip
            assert (await mesh.api.post("/v2/enqueue", json=body)).status_code == 202
        rows = await eventually(
            lambda: _incidents(mesh, world["service"]["id"], len(ALERTS)), timeout=30
        )
        by_key = {r["dedup_key"]: r for r in rows}
        await mesh.api.post(f"/api/v1/incidents/{by_key['psp-502']['id']}/acknowledge")
        await mesh.api.post(
            f"/api/v1/incidents/{by_key['checkout-latency']['id']}/notes",
            json={"note": "Latency follows the 10:02 deploy; rolling back."},
        )
        await mesh.api.post(f"/api/v1/incidents/{by_key['tls-expiry']['id']}/resolve")
        admin = await make_person(mesh, "admin", [world["team"]])
        async with mesh.ctx.sessions.begin() as session:
            user = await session.get(User, admin.user_id)
            assert user is not None
            user.name = "Grace Admin"

        app = create_app(mesh.ctx, mesh.platform.edge_names, platform=mesh.platform)
        server = QuietServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.05)
        latency = by_key["checkout-latency"]["number"]
        pages = {
            "dashboard": "/",
            "incidents": "/incidents",
            "incident": f"/incidents/{latency}",
            "oncall": "/oncall",
            "schedule": f"/schedules/{world['schedule']}",
            "service": f"/services/{world['service']['id']}?reveal=1",
            "analytics": "/analytics",
            "mail": "/mail",
        }
        try:
            path = chromium_path()
            assert path, "chromium is not installed"
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
                for scheme, viewport, suffix, wanted in (
                    ("light", {"width": 1280, "height": 860}, "", pages),
                    ("dark", {"width": 1280, "height": 860}, "-dark", {"dashboard": "/", "schedule": pages["schedule"]}),
                    ("light", {"width": 390, "height": 844}, "-phone", {"dashboard": "/", "incident": pages["incident"]}),
                ):  # fmt: skip
                    context = await browser.new_context(
                        base_url=base,
                        viewport=viewport,
                        color_scheme=scheme,  # type: ignore[arg-type]
                    )
                    page = await context.new_page()
                    await page.goto("/login")
                    if not suffix:
                        await page.screenshot(path=str(out / "login.png"))
                    await page.get_by_label("Username or email").fill(admin.username)
                    await page.get_by_label("Password").fill(admin.password)
                    await page.get_by_role("button", name="Log in").click()
                    await page.wait_for_url(f"{base}/")
                    for name, target in wanted.items():
                        await page.goto(target)
                        await page.wait_for_load_state(
                            "networkidle"
                        ) if name != "dashboard" else None
                        await page.wait_for_timeout(400)
                        await page.screenshot(path=str(out / f"{name}{suffix}.png"), full_page=True)
                    await context.close()
                await browser.close()
        finally:
            server.should_exit = True
            await serving
            sock.close()
    print(f"screenshots written to {out}/")


async def _incidents(mesh, service_id: str, count: int):  # type: ignore[no-untyped-def]
    rows = await mesh.incidents(service_id)
    return rows if len(rows) >= count else None


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
