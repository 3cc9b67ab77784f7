"""A minimal OTLP/HTTP trace receiver for benchmarks: accepts `POST /v1/traces`, counts the
spans, answers 200. Run as its own process so decoding does not slow the load generator.

    .venv/bin/python bench/otlp_sink.py --port 4318
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

received = {"requests": 0, "spans": 0}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = b""
    if scope["path"] == "/v1/traces":
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        received["requests"] += 1
        received["spans"] += sum(
            len(s.spans) for r in request.resource_spans for s in r.scope_spans
        )
    elif scope["path"] == "/count":
        payload = f"{received['requests']} {received['spans']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=4318)
    port = parser.parse_args().port
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", interface="asgi3")
