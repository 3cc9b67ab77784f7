"""The embedded nats-server wants credentials; a producer may only publish raw alerts."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from nats.errors import NoServersError

import nats
from oncallnova.embedded_nats import EmbeddedNats

pytestmark = pytest.mark.embedded


async def test_embedded_broker_requires_credentials_and_limits_producers(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    platform_url = await server.start()
    try:
        credentials = tmp_path / "nats" / "credentials.json"
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        with pytest.raises((NoServersError, nats.errors.Error, OSError)):
            await nats.connect(server.url, max_reconnect_attempts=0, allow_reconnect=False)

        platform = await nats.connect(platform_url)
        seen: list[str] = []

        async def note(msg: nats.aio.msg.Msg) -> None:
            seen.append(msg.subject)

        await platform.subscribe(">", cb=note)
        await platform.flush()

        refused: list[Exception] = []

        async def on_error(error: Exception) -> None:
            refused.append(error)

        producer = await nats.connect(server.url_for("producer"), error_cb=on_error)
        await producer.publish("alert.received.v1.generic", b"{}")
        await producer.publish("incident.command.v1.some-incident", b"{}")
        await producer.flush()
        await platform.flush()
        for _ in range(50):
            if refused and seen:
                break
            await asyncio.sleep(0.05)
        assert seen == ["alert.received.v1.generic"]
        assert any("permissions violation" in str(e).lower() for e in refused)
        await producer.close()
        await platform.close()
    finally:
        await server.stop()
