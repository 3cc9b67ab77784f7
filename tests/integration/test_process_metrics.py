"""Process metrics: worker throughput and latency, consumer backlog, HTTP latency by route
template (never an id in a label), and a worker run alone serving them on METRICS_PORT."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import (
    Mesh,
    drop_namespace,
    eventually,
    free_port,
    new_namespace,
    pd_event,
    services_settings,
    start_mesh,
    stop_mesh,
)


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


async def test_workers_consumers_and_routes_are_measured(mesh: Mesh, service: dict) -> None:
    response = await mesh.api.post("/v2/enqueue", json=pd_event(service["key"], dedup_key="pm"))
    assert response.status_code == 202
    [incident] = await eventually(lambda: mesh.incidents(service["id"]))
    assert (await mesh.api.get(f"/api/v1/incidents/{incident['id']}")).status_code == 200

    async def page() -> list[tuple[str, dict[str, str], float]] | None:
        found = samples((await mesh.api.get("/metrics")).text)
        handled = [
            v for n, lbl, v in found
            if n == "oncallnova_worker_handler_seconds_count" and lbl["worker"] == "metrics"
        ]  # fmt: skip
        return found if handled and handled[0] >= 1 else None

    found = await eventually(page)
    names = {n for n, _, _ in found}
    for name in (
        "oncallnova_worker_messages_handled_total",
        "oncallnova_worker_messages_redelivered_total",
        "oncallnova_worker_messages_dead_lettered_total",
        "oncallnova_worker_handler_seconds_bucket",
        "oncallnova_consumer_pending",
        "oncallnova_consumer_ack_pending",
        "oncallnova_http_request_duration_seconds_bucket",
    ):
        assert name in names, name
    consumers = {lbl["consumer"] for n, lbl, _ in found if n == "oncallnova_consumer_pending"}
    assert {"fingerprinter", "correlator", "lifecycle", "metrics", "metrics_alerts"} <= consumers
    routes = {
        (lbl["method"], lbl["route"], lbl["status"])
        for n, lbl, _ in found
        if n == "oncallnova_http_request_duration_seconds_count"
    }
    assert ("POST", "/v2/enqueue", "202") in routes
    assert ("GET", "/api/v1/incidents/{ref}", "200") in routes
    # Low cardinality: no incident id, service id or integration key in any label.
    for _, labels, _ in found:
        for value in labels.values():
            assert incident["id"] not in value and service["key"] not in value


async def test_a_worker_run_alone_serves_its_metrics_on_metrics_port() -> None:
    ns = new_namespace()
    port = free_port()
    mesh = await start_mesh(
        services_settings(ns, metrics_port=port), workers=["fingerprinter"], edges=[]
    )
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200
        up = [
            v for n, lbl, v in samples(response.text)
            if n == "oncallnova_worker_up" and lbl == {"worker": "fingerprinter"}
        ]  # fmt: skip
        assert up == [1.0]
    finally:
        await stop_mesh(mesh)
        await drop_namespace(ns)


async def test_grpc_calls_are_measured_by_method_and_code(mesh: Mesh, grpc_channel) -> None:
    import grpc

    from proto import incidents_pb2, incidents_pb2_grpc

    stub = incidents_pb2_grpc.IncidentServiceStub(grpc_channel)
    try:
        await stub.GetIncident(incidents_pb2.GetIncidentRequest(id="no-such-incident"))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
    found = samples((await mesh.api.get("/metrics")).text)
    counted = {
        (lbl["method"], lbl["code"]): v
        for n, lbl, v in found
        if n == "oncallnova_grpc_request_duration_seconds_count"
    }
    assert counted[("/oncallnova.v1.IncidentService/GetIncident", "NOT_FOUND")] >= 1
