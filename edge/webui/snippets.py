"""Copy-paste configuration for a service's senders, with its integration key filled in."""

from __future__ import annotations

import json
from dataclasses import dataclass

from schemas.subjects import ALERT_RECEIVED


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    language: str
    text: str


def snippets(base_url: str, key: str, service_name: str, nats_url: str) -> list[Snippet]:
    """Alertmanager (webhook and PagerDuty receivers), Grafana, curl and a NATS producer."""
    base = base_url.rstrip("/")
    subject = ALERT_RECEIVED.subject("generic")
    curl_body = json.dumps(
        {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": "disk-full-db1",
            "payload": {
                "summary": "Disk full on db1",
                "source": "db1",
                "severity": "critical",
            },
        },
        indent=2,
    )
    return [
        Snippet(
            "alertmanager-webhook",
            "Alertmanager — webhook_configs",
            "yaml",
            f"""receivers:
  - name: {service_name}
    webhook_configs:
      - url: {base}/api/v1/integrations/alertmanager/{key}
        send_resolved: true
""",
        ),
        Snippet(
            "alertmanager-pagerduty",
            "Alertmanager — pagerduty_configs",
            "yaml",
            f"""receivers:
  - name: {service_name}
    pagerduty_configs:
      - url: {base}/v2/enqueue
        routing_key: {key}
        send_resolved: true
""",
        ),
        Snippet(
            "grafana",
            "Grafana — webhook contact point (provisioning)",
            "yaml",
            f"""apiVersion: 1
contactPoints:
  - orgId: 1
    name: {service_name}
    receivers:
      - uid: oncallnova-{key[:8]}
        type: webhook
        settings:
          url: {base}/api/v1/integrations/grafana/{key}
          httpMethod: POST
""",
        ),
        Snippet(
            "curl",
            "curl — PagerDuty Events API v2",
            "sh",
            f"""curl -X POST {base}/v2/enqueue \\
  -H 'Content-Type: application/json' \\
  -d '{curl_body}'
""",
        ),
        Snippet(
            "nats",
            "NATS producer (Python, nats-py)",
            "python",
            f"""import asyncio, json, nats


async def main():
    nc = await nats.connect("{nats_url}")
    js = nc.jetstream()
    body = {{"summary": "Queue depth high", "severity": "warning", "dedup_key": "queue-depth"}}
    await js.publish(
        "{subject}",
        json.dumps(body).encode(),
        headers={{"Integration-Key": "{key}", "Nats-Msg-Id": "queue-depth-1"}},
    )
    await nc.close()


asyncio.run(main())
""",
        ),
    ]
