"""One alert is one trace: the ingestion request and the fingerprinter, correlator and
lifecycle handlers share its trace id, recorded in memory and sent over real OTLP/HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from oncallnova import telemetry
from oncallnova.logs import JsonFormatter
from tests.helpers import Mesh, eventually, free_port, pd_event

HANDLERS = ("fingerprinter process", "correlator process", "lifecycle process")


@pytest.fixture
def recorded() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.install(TracerProvider(), SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        telemetry.uninstall()


async def send_alert(mesh: Mesh, service: dict[str, str]) -> None:
    response = await mesh.api.post(
        "/v2/enqueue", json=pd_event(service["key"], dedup_key=secrets.token_hex(4))
    )
    assert response.status_code == 202, response.text
    await eventually(lambda: mesh.incidents(service["id"]))


async def test_one_alert_is_one_trace_through_every_worker(
    mesh: Mesh, service: dict[str, str], recorded: InMemorySpanExporter
) -> None:
    await send_alert(mesh, service)

    def trace_of_request() -> tuple[int, dict[str, int]] | None:
        spans = recorded.get_finished_spans()
        [request] = [s for s in spans if s.name == "POST /v2/enqueue"] or [None]
        if request is None:
            return None
        trace_id = request.context.trace_id
        mine = [s for s in spans if s.context.trace_id == trace_id]
        names = {name: sum(1 for s in mine if s.name == name) for name in HANDLERS}
        return (trace_id, names) if all(names.values()) else None

    async def done() -> tuple[int, dict[str, int]] | None:
        return trace_of_request()

    trace_id, names = await eventually(done)
    assert names == dict.fromkeys(HANDLERS, 1)
    spans = [s for s in recorded.get_finished_spans() if s.context.trace_id == trace_id]
    request = next(s for s in spans if s.name == "POST /v2/enqueue")
    assert request.attributes["http.route"] == "/v2/enqueue"
    assert request.attributes["http.response.status_code"] == 202
    # Each handler's span is a child of the span that published its message.
    by_id = {s.context.span_id: s for s in spans}
    fingerprinter = next(s for s in spans if s.name == "fingerprinter process")
    assert fingerprinter.parent is not None and by_id[fingerprinter.parent.span_id] is request
    lifecycle = next(s for s in spans if s.name == "lifecycle process")
    correlator = next(s for s in spans if s.name == "correlator process")
    assert lifecycle.parent is not None and by_id[lifecycle.parent.span_id] is correlator
    assert any(s.name == "db.transaction" for s in spans)


def test_log_lines_inside_a_span_carry_its_ids(recorded: InMemorySpanExporter) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    outside = json.loads(JsonFormatter().format(record))
    assert "trace_id" not in outside
    with telemetry.tracer().start_as_current_span("work") as span:
        inside = json.loads(JsonFormatter().format(record))
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")


class OtlpReceiver:
    """A real OTLP/HTTP trace receiver on loopback (its own thread and event loop)."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []
        self.port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_config=None, interface="asgi3"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            self.requests.append(request)
            headers = dict(scope["headers"])
            self.content_types.append(headers.get(b"content-type", b"").decode())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def spans(self) -> list[tuple[str, str, bytes]]:
        """(service.name, span name, trace id) of everything received."""
        out = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope_spans in resource_spans.scope_spans:
                    out += [(service, s.name, s.trace_id) for s in scope_spans.spans]
        return out

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


async def test_the_same_trace_reaches_a_real_otlp_receiver(
    mesh: Mesh, service: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with OtlpReceiver() as receiver:
        while not receiver.server.started:
            await asyncio.sleep(0.02)
        # Only the standard variables: the endpoint (http/protobuf by default) and a short
        # batch delay so the test does not wait five seconds.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        assert telemetry.setup_tracing("oncallnova-test")
        try:
            await send_alert(mesh, service)

            async def one_trace() -> bytes | None:
                spans = receiver.spans()
                requests = [t for _, name, t in spans if name == "POST /v2/enqueue"]
                for trace_id in requests:
                    names = {name for _, name, t in spans if t == trace_id}
                    if set(HANDLERS) <= names:
                        return trace_id
                return None

            assert await eventually(one_trace)
        finally:
            telemetry.uninstall()
    assert {service for service, _, _ in receiver.spans()} == {"oncallnova-test"}
    assert set(receiver.content_types) == {"application/x-protobuf"}


@pytest.mark.parametrize("tracing", [False, True])
async def test_in_a_large_batch_each_alert_keeps_its_own_trace(
    idle_mesh: Mesh, tracing: bool
) -> None:
    """40 alerts handled as one batch (one span linked to all when tracing is on): what each
    one causes is published under its own trace id, never under the batch's first."""
    import nats.js.api

    from app.workers import WORKERS
    from oncallnova.bus.runtime import PER_MESSAGE_SPANS, WorkerRunner
    from schemas.subjects import ALERT_FINGERPRINTED, ALERT_RECEIVED

    exporter = InMemorySpanExporter()
    if tracing:
        telemetry.install(TracerProvider(), SimpleSpanProcessor(exporter))
    try:
        bus = idle_mesh.ctx.bus
        service = await idle_mesh.create_service()
        sent: dict[str, str] = {}
        for i in range(40):
            trace_id = secrets.token_hex(16)
            sent[f"big-{i}"] = trace_id
            await bus.js.publish(
                ALERT_RECEIVED.subject("pagerduty", ns=bus.ns),
                json.dumps(pd_event(service["key"], dedup_key=f"big-{i}")).encode(),
                headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
                         "Nats-Msg-Id": secrets.token_hex(8)},
            )  # fmt: skip
        worker = await WORKERS["fingerprinter"](idle_mesh.ctx)
        runner = WorkerRunner(bus, worker, idle_mesh.ctx.sessions, batch_size=64)
        sub = await bus.js.pull_subscribe_bind(durable="fingerprinter", stream=bus.stream("ALERTS"))
        msgs = []
        while len(msgs) < 40:
            msgs += await sub.fetch(40 - len(msgs), timeout=5)
        assert len(msgs) > PER_MESSAGE_SPANS
        await runner.process(msgs)
        await sub.unsubscribe()
        out = await bus.js.subscribe(
            ALERT_FINGERPRINTED.stored_wildcard(bus.ns),  # stored with their partition
            stream=bus.stream("ALERTS_FINGERPRINTED"),
            ordered_consumer=True,
            config=nats.js.api.ConsumerConfig(deliver_policy=nats.js.api.DeliverPolicy.ALL),
        )
        found: dict[str, str] = {}
        while len(found) < 40:
            msg = await out.next_msg(timeout=5)
            dedup = json.loads(msg.data)["dedup_key"]
            found[dedup] = msg.headers["traceparent"].split("-")[1]
        await out.unsubscribe()
        assert found == sent
        if tracing:
            [batch] = [s for s in exporter.get_finished_spans() if s.name == "fingerprinter.batch"]
            assert {format(link.context.trace_id, "032x") for link in batch.links} == set(
                sent.values()
            )
    finally:
        if tracing:
            telemetry.uninstall()
