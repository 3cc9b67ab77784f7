"""The distributed deployment in `compose/` is consistent with the code, without running Docker.

Compose files are only exercised when someone deploys; these checks catch what would break
there first: a config that does not parse, a mounted file that was moved, a worker renamed in
the registry but not in Compose, a route sending the API to the UI.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from app.edges import EDGES
from app.workers import WORKERS
from oncallnova.embedded_nats import server_binary
from oncallnova.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
COMPOSE_FILE = COMPOSE / "docker-compose.yml"
# Host paths that belong to the Docker host, not to this repository.
DOCKER_HOST_PATHS = {"/var/run/docker.sock"}
# Environment the platform's containers set that Settings does not read (yet): OpenTelemetry
# reads OTEL_* itself; SMTP_* arrive with the notifier.
# Read by other programs (OpenTelemetry, the notifier, uvicorn), not by Settings.
NOT_SETTINGS = re.compile(r"^(OTEL_\w+|SMTP_HOST|SMTP_PORT|FORWARDED_ALLOW_IPS)$")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE_FILE)


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _platform_services(compose: dict[str, Any]) -> dict[str, list[str]]:
    """Compose service -> command, for every container that runs `oncallnova`."""
    return {
        name: _command(s)
        for name, s in compose["services"].items()
        if _command(s)[:1] == ["oncallnova"]
    }


def test_every_yaml_file_parses() -> None:
    files = sorted([*COMPOSE.rglob("*.yml"), *COMPOSE.rglob("*.yaml")])
    assert COMPOSE_FILE in files
    for path in files:
        assert isinstance(_load(path), dict), f"{path} is not a YAML mapping"


def _bind_sources(service: dict[str, Any]) -> list[str]:
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                sources.append(volume["source"])
        else:
            sources.append(volume.split(":", 1)[0])
    return sources


def test_mounted_paths_and_named_volumes_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for source in _bind_sources(service):
            if source.startswith(("/", "~")):
                assert source in DOCKER_HOST_PATHS, f"{name}: host path {source} is not portable"
            elif source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name}: mounts missing {source}"
            else:
                assert source in declared, f"{name}: volume {source} not declared"


def test_build_context_dockerfile_and_copied_paths_exist(compose: dict[str, Any]) -> None:
    builds = [s["build"] for s in compose["services"].values() if "build" in s]
    assert builds, "nothing is built"
    for build in builds:
        context = (COMPOSE / build["context"]).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert context.is_dir(), f"build context {context} missing"
        assert dockerfile.is_file(), f"Dockerfile {dockerfile} missing"
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY ") and "--from" not in line:
                for source in line.split()[1:-1]:
                    assert (context / source).exists(), f"{dockerfile.name}: COPY {source} missing"


def test_every_worker_and_edge_runs_and_only_real_ones(compose: dict[str, Any]) -> None:
    ran: dict[str, set[str]] = {"worker": set(), "edge": set()}
    for name, command in _platform_services(compose).items():
        if command[1:2] in (["worker"], ["edge"]):
            kind, target = command[1], command[2]
            known = WORKERS if kind == "worker" else EDGES
            assert target in known, f"{name}: `oncallnova {kind} {target}` names no {kind}"
            ran[kind].add(target)
    assert ran["worker"] == set(WORKERS), "a worker has no Compose service"
    assert ran["edge"] == set(EDGES), "an edge has no Compose service"


def test_platform_environment_is_valid_settings(compose: dict[str, Any]) -> None:
    for name in _platform_services(compose):
        env = compose["services"][name]["environment"]
        for required in ("DATABASE_URL", "REDIS_URL", "NATS_URL"):
            assert env.get(required), f"{name}: {required} not set"
        assert len(env["NATS_URL"].split(",")) == 3, f"{name}: NATS_URL must list all 3 nodes"
        fields = {k.lower(): str(v) for k, v in env.items() if not NOT_SETTINGS.match(k)}
        unknown = sorted(fields.keys() - Settings.model_fields.keys())
        assert not unknown, f"{name}: environment Settings does not read: {unknown}"
        settings = Settings(**fields)  # a bad value fails validation here
        assert settings.nats_replicas == 3 and not settings.embedded


def test_nats_is_a_three_node_jetstream_cluster_of_2_11_or_newer(compose: dict[str, Any]) -> None:
    nodes = {n: s for n, s in compose["services"].items() if s.get("image", "").startswith("nats:")}
    assert sorted(nodes) == ["nats-1", "nats-2", "nats-3"]
    conf = (COMPOSE / "nats" / "nats.conf").read_text()
    for name, service in nodes.items():
        major, minor = map(int, re.match(r"nats:(\d+)\.(\d+)", service["image"]).groups())
        assert (major, minor) >= (2, 11), f"{name}: per-message TTLs need nats-server 2.11+"
        assert service["environment"]["SERVER_NAME"] == name
        assert f"nats-route://{name}:6222" in conf


def test_nats_server_accepts_the_cluster_config() -> None:
    result = subprocess.run(
        [server_binary(), "-c", str(COMPOSE / "nats" / "nats.conf"), "-t"],
        env={
            **os.environ,
            "SERVER_NAME": "nats-1",
            "NATS_PASSWORD": "p" * 24,
            "NATS_PRODUCER_PASSWORD": "q" * 24,
        },
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr or result.stdout


# --- Traefik -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def traefik() -> dict[str, Any]:
    return _load(COMPOSE / "traefik" / "dynamic.yml")["http"]


RULE_PART = re.compile(r"^(PathPrefix|Path)\(`([^`]+)`\)$")


def _matches(rule: str, path: str) -> bool:
    # Only Path/PathPrefix alternatives are used; anything else must be taught here first.
    for part in rule.split("||"):
        kind, value = RULE_PART.match(part.strip()).groups()
        if path == value or (kind == "PathPrefix" and path.startswith(value)):
            return True
    return False


def _route(routers: dict[str, Any], path: str) -> str:
    """The service Traefik sends `path` to on the web entry point (highest priority wins)."""
    web = [r for r in routers.values() if "web" in r["entryPoints"] and _matches(r["rule"], path)]
    assert web, f"no route for {path}"
    return max(web, key=lambda r: r.get("priority", len(r["rule"])))["service"]


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v2/enqueue", "ingestion"),
        ("/v2/change/enqueue", "ingestion"),
        ("/api/v1/integrations/alertmanager/key", "ingestion"),
        ("/api/v1/alerts", "ingestion"),
        ("/api/v1/incidents/42/acknowledge", "incidents"),
        ("/api/v1/schedules", "oncall"),
        ("/metrics", "exporter"),
        ("/", "webui"),
        ("/docs", "webui"),
    ],
)
def test_traefik_routes_paths_to_their_edge(
    traefik: dict[str, Any], compose: dict[str, Any], path: str, service: str
) -> None:
    target = _route(traefik["routers"], path)
    servers = traefik["services"][target]["loadBalancer"]["servers"]
    hosts = {urlsplit(s["url"]).hostname for s in servers}
    assert hosts == {service}
    assert _command(compose["services"][service])[1:] == ["edge", service]


def _per_second(period: str) -> float:
    value, unit = re.match(r"^(\d+)(ms|s|m)?$", str(period)).groups()
    return int(value) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[unit]


def test_traefik_limits_every_route_to_100_requests_per_second_per_ip(
    traefik: dict[str, Any],
) -> None:
    limits = {
        name: m["rateLimit"] for name, m in traefik["middlewares"].items() if "rateLimit" in m
    }
    assert len(limits) == 1, limits
    ((name, limit),) = limits.items()
    assert limit["average"] / _per_second(limit.get("period", "1s")) == 100
    # Per IP: no sourceCriterion means the client address; a header criterion would not be.
    criterion = limit.get("sourceCriterion", {"ipStrategy": {}})
    assert "ipStrategy" in criterion
    for router_name, router in traefik["routers"].items():
        assert name in router.get("middlewares", []), f"{router_name} is not rate limited"


def test_prometheus_scrapes_the_exporter_edge(compose: dict[str, Any]) -> None:
    prometheus = _load(COMPOSE / "prometheus" / "prometheus.yml")
    targets = {
        t
        for job in prometheus["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for sc in job.get("static_configs", [])
        for t in sc["targets"]
    }
    # Edges listen on PORT (Settings' default unless the service sets it).
    port = compose["services"]["exporter"]["environment"].get(
        "PORT", Settings.model_fields["port"].default
    )
    assert f"exporter:{port}" in targets
