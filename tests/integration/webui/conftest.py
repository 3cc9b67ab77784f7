"""Fixtures of the console's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers import Mesh
from tests.integration.webui.console import Console, console, retire


@pytest.fixture
async def admin(http_base: str, mesh: Mesh) -> AsyncIterator[Console]:
    """An admin logged in to the console through its login form."""
    session = await console(http_base, mesh, "admin")
    yield session
    await session.client.aclose()
    await retire(mesh, session.person)
