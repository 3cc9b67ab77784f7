"""`/healthz` is 200 only while the database, NATS and every component of the process run."""

from __future__ import annotations

from tests.helpers import eventually, namespaced_mesh


async def test_healthz_turns_503_when_a_worker_stops() -> None:
    async with namespaced_mesh(workers=["lifecycle"], edges=["exporter"]) as mesh:

        async def status() -> int:
            return (await mesh.api.get("/healthz")).status_code

        assert await eventually(lambda: _is(status, 200))
        body = (await mesh.api.get("/healthz")).json()
        assert body["checks"] == {"database": True, "nats": True, "worker:lifecycle": True}

        mesh.platform.runners["lifecycle"].stop()
        await eventually(lambda: _is(status, 503))
        body = (await mesh.api.get("/healthz")).json()
        assert body["status"] == "unhealthy"
        assert body["checks"]["worker:lifecycle"] is False
        assert body["checks"]["database"] is True


async def _is(status, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return await status() == expected
