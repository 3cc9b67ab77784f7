"""Alert ingestion over HTTP, byte-compatible with the senders people already run.

- `POST /v2/enqueue`, `POST /v2/change/enqueue`: PagerDuty Events API v2 (its responses too).
- `POST /api/v1/integrations/alertmanager/{key}`: Alertmanager webhook v4.
- `POST /api/v1/integrations/grafana/{key}`: Grafana alerting webhook.
- `POST /api/v1/alerts`: generic JSON; key in `Authorization: Bearer` or `?token=`.
Every 202 is sent only after JetStream's PubAck: the alert is durable.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from edge.ingestion.service import Ingestion, UnknownIntegrationKey
from oncallnova.alerts.validation import (
    MAX_BODY_BYTES,
    AlertBodyTooLarge,
    InvalidAlert,
    check_content_type,
    pagerduty_error_body,
)
from oncallnova.context import AppContext
from oncallnova.errors import error_headers

BODY_DOC = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}


# Past the limit, at most this much more is read (and thrown away) before the 413 goes out and
# the connection is closed: enough for a client that writes its whole body before reading the
# answer to see the 413 rather than a reset, far less than the 50 MB a client might send.
DISCARD_BYTES = 1024 * 1024
DISCARD_SECONDS = 1.0


async def read_body(request: Request) -> bytes:
    """The raw body, refused past the 512 KB limit without reading it all (the 413 closes the
    connection), or when it is not sent as JSON."""
    check_content_type(request.headers.get("content-type"))
    too_large = AlertBodyTooLarge([f"body: must be at most {MAX_BODY_BYTES} bytes"])
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        # A client waiting for "100 Continue" has sent nothing yet: reading would invite it to.
        if request.headers.get("expect", "").lower() != "100-continue":
            await _discard_rest(request)
        raise too_large
    chunks: list[bytes] = []
    size = 0
    # Straight from ASGI `receive`, so the rest of a refused body can still be drained.
    while True:
        message = await request.receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            if message.get("more_body", False):
                await _discard_rest(request)
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _discard_rest(request: Request) -> None:
    """Read and drop what the client is still sending, within DISCARD_BYTES/DISCARD_SECONDS."""
    discarded = 0
    try:
        async with asyncio.timeout(DISCARD_SECONDS):
            while discarded <= DISCARD_BYTES:
                message = await request.receive()
                if message["type"] != "http.request":
                    return  # the client went away
                discarded += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        return


def bearer_or_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return request.query_params.get("token") or None


def router(ctx: AppContext) -> APIRouter:
    api = APIRouter(tags=["ingestion"])
    ingestion = Ingestion(ctx)

    async def pagerduty(request: Request, fmt: str, message: str) -> JSONResponse:
        try:
            accepted = await ingestion.accept(fmt, await read_body(request))
        except InvalidAlert as error:
            return JSONResponse(
                pagerduty_error_body(error.errors),
                status_code=error.status_code,
                headers=error_headers(error.status_code),
            )
        except UnknownIntegrationKey as error:
            # PagerDuty clients treat 4xx other than 429 as final: a 400 in their own shape.
            return JSONResponse(pagerduty_error_body([error.message]), status_code=400)
        body = {"status": "success", "message": message}
        if accepted.dedup_key is not None:
            body["dedup_key"] = accepted.dedup_key
        return JSONResponse(body, status_code=202)

    @api.post("/v2/enqueue", status_code=202, openapi_extra=BODY_DOC)
    async def enqueue(request: Request) -> JSONResponse:
        """PagerDuty Events API v2: trigger, acknowledge, resolve."""
        return await pagerduty(request, "pagerduty", "Event processed")

    @api.post("/v2/change/enqueue", status_code=202, openapi_extra=BODY_DOC)
    async def change_enqueue(request: Request) -> JSONResponse:
        """PagerDuty change events: shown on the service's timeline, never notify."""
        return await pagerduty(request, "change", "Change event processed")

    async def keyed(request: Request, fmt: str, key: str | None) -> JSONResponse:
        accepted = await ingestion.accept(
            fmt, await read_body(request), integration_key=key, http_headers=request.headers
        )
        return JSONResponse(
            {"status": "accepted", "message_id": accepted.message_id, "alerts": accepted.alerts},
            status_code=202,
        )

    @api.post(
        "/api/v1/integrations/alertmanager/{integration_key}",
        status_code=202,
        openapi_extra=BODY_DOC,
    )
    async def alertmanager(integration_key: str, request: Request) -> JSONResponse:
        """Prometheus Alertmanager webhook_configs (version 4)."""
        return await keyed(request, "alertmanager", integration_key)

    @api.post(
        "/api/v1/integrations/grafana/{integration_key}", status_code=202, openapi_extra=BODY_DOC
    )
    async def grafana(integration_key: str, request: Request) -> JSONResponse:
        """Grafana alerting webhook contact point."""
        return await keyed(request, "grafana", integration_key)

    @api.post("/api/v1/alerts", status_code=202, openapi_extra=BODY_DOC)
    async def generic(request: Request) -> JSONResponse:
        """Generic JSON alert: summary, severity, source, dedup_key, details, action."""
        key = bearer_or_token(request)
        if key is None:
            raise InvalidAlert(
                ["integration_key: send it as 'Authorization: Bearer <key>' or ?token="]
            )
        return await keyed(request, "generic", key)

    return api
