"""Who is asking. Authentication has its own issue; routes already depend on this seam."""

from __future__ import annotations

from fastapi import Request


async def current_actor(request: Request) -> str:
    """The caller as a timeline actor (`user:<id>`); anonymous until login lands."""
    return request.headers.get("X-Oncallnova-Actor", "user:anonymous")[:255]
