"""Microseconds per body for the edge's shared validation (`parse_alert_body`).

Run it against two checkouts side by side to see what a change to validation costs:

    python bench/parse_body.py /path/to/checkout-a
    python bench/parse_body.py /path/to/checkout-b
"""

from __future__ import annotations

import json
import sys
import timeit
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
sys.path.insert(0, str(ROOT))

from oncallnova.alerts.validation import parse_alert_body  # noqa: E402

PAGERDUTY = json.dumps(
    {
        "routing_key": "a" * 32,
        "event_action": "trigger",
        "dedup_key": "k",
        "payload": {
            "summary": "CPU high on web-1",
            "source": "web-1",
            "severity": "critical",
            "custom_details": {"cpu": 97.5, "cores": [1, 2, 3, 4], "labels": {"env": "prod"}},
        },
    }
).encode()
ALERTMANAGER = (
    Path(__file__).parent.parent / "tests/fixtures/wire/alertmanager_mixed_group.json"
).read_bytes()
N = 20_000

for name, fmt, raw in (
    ("pagerduty", "pagerduty", PAGERDUTY),
    ("alertmanager", "alertmanager", ALERTMANAGER),
):
    best = min(timeit.repeat(lambda: parse_alert_body(fmt, raw), number=N, repeat=5))  # noqa: B023
    print(f"{name:13s} {best / N * 1e6:6.1f} us/body  ({ROOT.name})")
