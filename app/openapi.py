"""Every status a route answers, in the OpenAPI document, with the body it comes with.

Routes declare their success; the errors are documented here, once, by rules on paths, so
generated clients and contract tests (Schemathesis) agree with what the server sends. A route
added later gets the rules that match its path without touching its decorator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from oncallnova.security.rules import rest_rule

ERROR = "#/components/schemas/Error"
PAGERDUTY_ERROR = "#/components/schemas/PagerDutyError"

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "for people; names the field"},
                "field": {"type": "string", "description": "the offending input, if one"},
                "errors": {
                    "type": "array",
                    "description": "every problem found, when there are several",
                    "items": {},
                },
            },
        }
    },
}

PAGERDUTY_ERROR_SCHEMA: dict[str, Any] = {
    "title": "PagerDutyError",
    "type": "object",
    "required": ["status", "message", "errors"],
    "properties": {
        "status": {"type": "string", "examples": ["invalid event"]},
        "message": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}

DESCRIPTIONS = {
    400: "Invalid body (not JSON, or an invalid alert: every bad field is named)",
    401: "Missing or wrong credentials",
    403: "The caller's role or team does not allow it; `field` names a field it may not set",
    429: "Too many requests: retry after `Retry-After` seconds",
    404: "No such object",
    409: "Conflicts with stored data",
    413: "Body over 512 KB; the connection is closed",
    410: "The link was already used, or has expired",
    415: "Not a JSON body",
    422: "Invalid input; `field` names it",
    503: "The broker is down: nothing was stored, retry after `Retry-After` seconds",
}


@dataclass(frozen=True)
class Rule:
    """Statuses that every operation matching `methods` and `path` (a regex) can answer."""

    methods: frozenset[str]
    path: str
    statuses: tuple[int, ...]
    schema: str = ERROR


ANY = frozenset({"get", "post", "put", "patch", "delete"})
WRITE = frozenset({"post", "put", "patch", "delete"})
PAGERDUTY = r"^/v2/(change/)?enqueue$"
KEYED = r"^/api/v1/(integrations/(alertmanager|grafana)/\{integration_key\}|alerts)$"

RULES: tuple[Rule, ...] = (
    # Ingestion: PagerDuty's own error body for its routes, ours for the others.
    Rule(frozenset({"post"}), PAGERDUTY, (400, 413, 415), PAGERDUTY_ERROR),
    Rule(frozenset({"post"}), PAGERDUTY, (503,)),
    Rule(frozenset({"post"}), KEYED, (400, 404, 413, 415, 503)),
    Rule(frozenset({"post"}), r"^/api/v1/integrations/grafana/", (401,)),
    # Incidents: by id or number; commands are published, so the broker may be down.
    Rule(ANY, r"^/api/v1/incidents/\{ref\}", (404,)),
    Rule(frozenset({"post"}), r"^/api/v1/incidents/\{ref\}/", (503,)),
    # Services, users, teams, schedules, policies: objects named in the path may not exist, and
    # writes may name other objects that do not, or conflict with what is stored.
    Rule(ANY, r"^/api/v1/[a-z_]+/\{[a-z_]+\}", (404,)),
    Rule(WRITE, r"^/api/v1/(services|users|teams|schedules|escalation_policies)", (404, 409)),
    Rule(frozenset({"get"}), r"^/api/v1/oncall$", (404,)),
    Rule(frozenset({"get"}), r"^/api/v1/users/\{user_id\}/oncall\.ics$", (401,)),
    Rule(frozenset({"post"}), r"^/api/v1/auth/login$", (401, 429)),
    Rule(frozenset({"get"}), r"^/api/v1/schedules/\{schedule_id\}\.ics$", (401,)),
    # Email action links: a token that is not this incident's (403), expired or used (410).
    Rule(frozenset({"get", "post"}), r"^/api/v1/actions/", (403, 404, 410)),
    Rule(frozenset({"post"}), PAGERDUTY, (429,)),
    Rule(frozenset({"post"}), KEYED, (429,)),
)


def statuses_for(method: str, path: str) -> dict[int, str]:
    """Each error status the operation can answer, with the schema of its body."""
    found: dict[int, str] = {}
    # Who may call it comes from the authorization table: a route for people answers 401
    # without valid credentials and 403 for a role or object it does not allow.
    access = rest_rule(method.upper(), path)
    if access is not None and not access.public:
        found.update({401: ERROR, 403: ERROR})
    if method in WRITE:
        found[413] = ERROR  # every route's body is limited (MAX_BODY_BYTES)
    for rule in RULES:
        if method in rule.methods and re.search(rule.path, path):
            for status in rule.statuses:
                found.setdefault(status, rule.schema)
    return found


def _response(status: int, schema: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": schema}}},
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {"description": "seconds", "schema": {"type": "string"}}
        }
    return response


def add_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every operation's error answers and our 422 body filled in."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["PagerDutyError"] = PAGERDUTY_ERROR_SCHEMA
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ANY:
                continue
            responses = operation.setdefault("responses", {})
            wanted = statuses_for(method, path)
            # Any parameter or body can be invalid: our handler answers 422 with `Error`,
            # not FastAPI's `HTTPValidationError` (which it documents by default).
            if operation.get("parameters") or operation.get("requestBody") or "422" in responses:
                wanted.setdefault(422, ERROR)
            # A body that is not JSON at all (bad UTF-8, a syntax error FastAPI finds first).
            if operation.get("requestBody"):
                wanted.setdefault(400, ERROR)
            for status, schema in sorted(wanted.items()):
                responses[str(status)] = _response(status, schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` include every route's error answers (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_responses(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
