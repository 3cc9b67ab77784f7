"""The five edge services by name, and what each brings: REST routes and gRPC services."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc
from fastapi import APIRouter, FastAPI

from edge.exporter import rest as exporter_rest
from edge.incidents import grpc as incidents_grpc
from edge.incidents import rest as incidents_rest
from edge.ingestion import grpc as ingestion_grpc
from edge.ingestion import rest as ingestion_rest
from edge.oncall import grpc as oncall_grpc
from edge.oncall import rest as oncall_rest
from edge.webui import rest as webui_rest
from oncallnova.context import AppContext
from proto import incidents_pb2, ingestion_pb2, oncall_pb2


@dataclass(frozen=True)
class Edge:
    """An edge service: its REST router factory and its gRPC registration, where it has them."""

    router: Callable[[AppContext], APIRouter] | None = None
    add_grpc: Callable[[grpc.aio.Server, AppContext], None] | None = None


EDGES: dict[str, Edge] = {
    "ingestion": Edge(ingestion_rest.router, ingestion_grpc.add_to_server),
    "incidents": Edge(incidents_rest.router, incidents_grpc.add_to_server),
    "oncall": Edge(oncall_rest.router, oncall_grpc.add_to_server),
    "exporter": Edge(exporter_rest.router),
    "webui": Edge(webui_rest.router),
}

# The proto file of each edge with gRPC services, for server reflection (`grpcurl list`).
GRPC_PROTOS = {
    "ingestion": ingestion_pb2.DESCRIPTOR,
    "incidents": incidents_pb2.DESCRIPTOR,
    "oncall": oncall_pb2.DESCRIPTOR,
}


def grpc_service_names(names: Iterable[str]) -> list[str]:
    """Full names of the gRPC services the named edges serve."""
    return [
        service.full_name
        for name in names
        if name in GRPC_PROTOS
        for service in GRPC_PROTOS[name].services_by_name.values()
    ]


def include_routers(app: FastAPI, ctx: AppContext, names: Iterable[str]) -> None:
    # The UI is mounted last: it serves `/` and must not shadow API paths.
    for name in sorted(names, key=lambda n: n == "webui"):
        edge = EDGES[name]
        if edge.router is not None:
            app.include_router(edge.router(ctx))


def add_grpc_services(server: grpc.aio.Server, ctx: AppContext, names: Iterable[str]) -> bool:
    """Register every named edge's gRPC services; False when none has any."""
    added = False
    for name in names:
        edge = EDGES[name]
        if edge.add_grpc is not None:
            edge.add_grpc(server, ctx)
            added = True
    return added
