"""The provisioned Grafana dashboard asks only for series the platform exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edge.exporter.rest import incident_families, worker_families
from oncallnova.bus.runtime import WorkerStats
from oncallnova.process_metrics import ProcessMetrics

DASHBOARDS = Path(__file__).resolve().parents[2] / "compose/grafana/provisioning/dashboards"
METRIC = re.compile(r"\b(oncall_\w+|oncallnova_\w+)\b")


class Runner:
    stats = WorkerStats()


def exported_names() -> set[str]:
    metrics = ProcessMetrics()
    metrics.http_duration.labels("GET", "/", "200").observe(0.01)
    families = [*incident_families([], 0), *worker_families({"w": Runner()})]
    families += list(metrics.registry.collect())
    names = {sample.name for family in families for sample in family.samples}
    return names | {"oncallnova_consumer_pending", "oncallnova_consumer_ack_pending"}


def test_every_panel_queries_an_exported_series() -> None:
    [path] = DASHBOARDS.glob("*.json")
    dashboard = json.loads(path.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 12
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used - exported_names() == set()
    # The six metrics of the design all have a panel.
    for name in ("oncall_incidents_total", "oncall_incidents_active", "oncall_mtta_seconds_bucket",
                 "oncall_mttr_seconds_bucket", "oncall_alerts_ingested_total",
                 "oncall_oncall_engineers_active"):  # fmt: skip
        assert name in used
