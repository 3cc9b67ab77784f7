"""Signing in to the console as a person would (the login form, its cookies, its CSRF)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import httpx

from oncallnova.auth import CSRF_COOKIE
from tests.helpers import Mesh


@dataclass
class Person:
    user_id: str
    username: str
    password: str


async def make_person(mesh: Mesh, role: str, team_ids: list[str] | None = None) -> Person:
    """A user with a password (so the login form works for them)."""
    password = "pw-" + secrets.token_hex(8)
    user_id = await mesh.create_user(role, team_ids, password=password)
    async with mesh.ctx.sessions() as session:
        from oncallnova.db.models.oncall import User

        user = await session.get(User, user_id)
        assert user is not None and user.username
        return Person(user_id, user.username, password)


async def form_login(
    client: httpx.AsyncClient, person: Person, next_path: str = "/"
) -> httpx.Response:
    """Fill in the login form: its nonce comes with the page, as in a browser."""
    page = await client.get("/login", params={"next": next_path})
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert nonce, page.text
    return await client.post(
        "/login",
        data={"username": person.username, "password": person.password, "next": next_path,
              "csrf_token": nonce.group(1)},
    )  # fmt: skip


async def retire(mesh: Mesh, person: Person) -> None:
    """Make a test's extra admin a viewer again: the shared mesh keeps one admin, as other
    tests (the last admin cannot be removed) expect."""
    from oncallnova.db.models.oncall import User

    async with mesh.ctx.sessions.begin() as session:
        user = await session.get(User, person.user_id)
        if user is not None:
            user.role = "viewer"


class Console:
    """A logged-in browser session on the real port: cookies kept, CSRF token at hand."""

    def __init__(self, client: httpx.AsyncClient, person: Person) -> None:
        self.client = client
        self.person = person

    @property
    def csrf(self) -> str:
        return str(self.client.cookies.get(CSRF_COOKIE))

    async def post(
        self, path: str, data: dict | None = None, json_answer: bool = False
    ) -> httpx.Response:
        headers = {"Accept": "application/json"} if json_answer else {}
        return await self.client.post(
            path, data={"csrf_token": self.csrf, **(data or {})}, headers=headers
        )


async def console(base: str, mesh: Mesh, role: str, team_ids: list[str] | None = None) -> Console:
    person = await make_person(mesh, role, team_ids)
    client = httpx.AsyncClient(base_url=base, trust_env=False, timeout=10)
    response = await form_login(client, person)
    assert response.status_code == 303, response.text
    return Console(client, person)
