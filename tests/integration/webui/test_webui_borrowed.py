"""Pages built on other edges' APIs (analytics, the capture inbox): read as the signed-in
person through the app itself, and a clear "not available" where this process lacks them."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from edge.webui import borrowed
from oncallnova.auth import SESSION_COOKIE
from oncallnova.errors import OnCallNovaError
from tests.helpers import Mesh
from tests.integration.webui.console import Console


def request_as(mesh: Mesh, token: str | None) -> Request:
    headers = [(b"cookie", f"{SESSION_COOKIE}={token}".encode())] if token else []
    return Request({"type": "http", "app": mesh.app, "headers": headers, "client": ("127.0.0.1", 1),
                    "method": "GET", "path": "/analytics", "query_string": b""})  # fmt: skip


async def test_a_borrowed_read_is_made_as_the_person_and_scoped_like_the_api(mesh: Mesh) -> None:
    mine, theirs = await mesh.create_team(), await mesh.create_team()
    own = await mesh.create_service(team_id=mine)
    other = await mesh.create_service(team_id=theirs)
    viewer = await mesh.token_for(await mesh.create_user("viewer", [mine]))
    services = await borrowed.get_json(
        request_as(mesh, viewer), "/api/v1/services", "/api/v1/services"
    )
    ids = {s["id"] for s in services}
    assert own["id"] in ids and other["id"] not in ids
    with pytest.raises(OnCallNovaError) as refused:
        await borrowed.get_json(request_as(mesh, None), "/api/v1/services")
    assert refused.value.status_code == 401


async def test_a_route_this_process_lacks_is_unavailable_not_an_error(mesh: Mesh) -> None:
    admin = request_as(mesh, mesh.admin_token)
    with pytest.raises(borrowed.Unavailable):
        await borrowed.get_json(admin, "/api/v1/no-such-feature")
    # An API's own "no such object" is an answer, not a missing feature.
    with pytest.raises(OnCallNovaError) as missing:
        await borrowed.get_json(admin, "/api/v1/services/00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404


async def test_analytics_and_mail_pages_say_what_is_missing(mesh: Mesh, admin: Console) -> None:
    for path, route in (("/analytics", "/api/v1/analytics/trends"), ("/mail", "/api/v1/mail")):
        page = await admin.client.get(path)
        assert page.status_code == 200
        served = await mesh.api.get(route)
        if served.status_code == 404 and served.json() == borrowed.NO_ROUTE:
            assert "Not available yet" in page.text and route.rsplit("/", 1)[0] in page.text
        else:
            assert "Not available yet" not in page.text
