"""Pages built on another edge's REST API (analytics, the capture inbox), read in this process
as the signed-in person, so that API's own authorization applies.

When this process does not serve the route (the feature is not installed here, or runs in
another process of a distributed deployment), the page says so instead of guessing.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request

from oncallnova.auth import SESSION_COOKIE
from oncallnova.errors import OnCallNovaError


class Unavailable(Exception):
    """This process does not serve the route the page needs."""


async def get_json(request: Request, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET `path` from this app as the person behind `request`; Unavailable when no route of
    this process matches it (FastAPI's own 404, not an API's "no such object")."""
    client = (request.client.host, request.client.port) if request.client else ("127.0.0.1", 0)
    token = request.cookies.get(SESSION_COOKIE, "")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=request.app, client=client),
        base_url="http://console.internal",
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        response = await api.get(path, params=params)
    if response.status_code == 404 and _no_route(response):
        raise Unavailable(path)
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            problem = OnCallNovaError(str(error["message"]), field=error.get("field"))
        except (ValueError, KeyError, TypeError):
            problem = OnCallNovaError(f"{path} answered {response.status_code}")
        problem.status_code = response.status_code
        raise problem
    return response.json()


# What the app answers for a path no route matches (its HTTPException handler's shape), as
# opposed to an API's own "no such object", which names what is missing.
NO_ROUTE = {"error": {"code": "not_found", "message": "Not Found"}}


def _no_route(response: httpx.Response) -> bool:
    try:
        return bool(response.json() == NO_ROUTE)
    except ValueError:
        return False
