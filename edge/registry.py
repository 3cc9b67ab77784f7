"""The five edge services by name: each may have REST routes and gRPC services."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

import grpc
from fastapi import FastAPI

from oncallnova.context import AppContext

log = logging.getLogger(__name__)

# name → module path; each module may define `router(ctx)` (rest.py) and `add_to_server` (grpc.py)
EDGES: dict[str, str] = {
    "ingestion": "edge.ingestion",
    "incidents": "edge.incidents",
    "oncall": "edge.oncall",
    "exporter": "edge.exporter",
    "webui": "edge.webui",
}


def _submodule(edge: str, name: str):  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(f"{EDGES[edge]}.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"{EDGES[edge]}.{name}":
            return None
        raise


def include_routers(app: FastAPI, ctx: AppContext, names: Iterable[str]) -> None:
    # The UI is mounted last: it serves `/` and must not shadow API paths.
    for name in sorted(names, key=lambda n: n == "webui"):
        rest = _submodule(name, "rest")
        if rest is not None:
            app.include_router(rest.router(ctx))


def add_grpc_services(server: grpc.aio.Server, ctx: AppContext, names: Iterable[str]) -> bool:
    """Register every named edge's gRPC services; False when none has any."""
    added = False
    for name in names:
        module = _submodule(name, "grpc")
        if module is not None:
            module.add_to_server(server, ctx)
            added = True
    return added
