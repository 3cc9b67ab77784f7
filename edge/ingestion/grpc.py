"""gRPC `AlertIngestion`: the same acceptance path as HTTP, answered after the PubAck."""

from __future__ import annotations

import json

import grpc

from edge.ingestion.service import Ingestion
from oncallnova.context import AppContext
from proto import ingestion_pb2 as pb
from proto import ingestion_pb2_grpc as pb_grpc


def event_body(request: pb.Event) -> bytes:
    """A PagerDuty Events v2 body from the message's fields (empty fields are absent)."""
    body: dict[str, object] = {
        "routing_key": request.routing_key,
        "event_action": request.event_action,
    }
    if request.dedup_key:
        body["dedup_key"] = request.dedup_key
    if request.event_action == "trigger":
        payload: dict[str, object] = {
            "summary": request.summary,
            "source": request.source,
            "severity": request.severity,
        }
        for name in ("component", "group", "class", "timestamp"):
            if getattr(request, name):
                payload[name] = getattr(request, name)
        if request.custom_details_json:
            payload["custom_details"] = json.loads(request.custom_details_json)
        body["payload"] = payload
    return json.dumps(body).encode()


class AlertIngestionServicer(pb_grpc.AlertIngestionServicer):
    def __init__(self, ctx: AppContext) -> None:
        self.ingestion = Ingestion(ctx)

    async def SendEvent(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        try:
            body = event_body(request)
        except (ValueError, RecursionError):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "custom_details_json: not JSON")
        return await self._accept(context, "pagerduty", body, None)

    async def SendRaw(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        # Metadata stands in for HTTP headers: a signed Grafana body sends its signature there.
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        return await self._accept(
            context, request.format, request.body, request.integration_key or None, metadata
        )

    async def _accept(self, context, fmt, body, key, headers=None):  # type: ignore[no-untyped-def]
        # InvalidAlert / UnknownIntegrationKey become statuses in the server's ErrorInterceptor.
        accepted = await self.ingestion.accept(fmt, body, integration_key=key, http_headers=headers)
        return pb.EventAccepted(dedup_key=accepted.dedup_key or "", message_id=accepted.message_id)


def add_to_server(server: grpc.aio.Server, ctx: AppContext) -> None:
    pb_grpc.add_AlertIngestionServicer_to_server(AlertIngestionServicer(ctx), server)
