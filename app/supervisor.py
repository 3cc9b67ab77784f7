"""The supervisor: starts the chosen workers and edges and stops them cleanly.

`oncallnova up` runs all of them; `oncallnova worker NAME` / `edge NAME` run one. Start order:
(embedded nats-server) → database migrations → bus + provisioning → workers → HTTP/gRPC.
Stop order is the reverse, and each worker finishes the batch in hand before the bus drains.
With `worker_processes` ≥ 2 (`WORKER_PROCESSES`, `oncallnova up` only) the workers run in
child processes this one starts, restarts and stops (`app/worker_processes.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from grpc_reflection.v1alpha import reflection

from app.edges import EDGES, add_grpc_services, grpc_service_names
from app.http import create_app
from app.metrics_port import serve_process_metrics
from app.worker_processes import (
    RemoteRunner,
    WorkerProcess,
    assign_workers,
    follow_parent,
    report_stats,
    worker_process_count,
)
from app.workers import WORKERS
from oncallnova.bus import declarations
from oncallnova.bus.connection import Bus, connect
from oncallnova.bus.provision import provision
from oncallnova.bus.pull import parse_partitions
from oncallnova.bus.runtime import WorkerRunner
from oncallnova.context import AppContext, system_clock
from oncallnova.db import migrate
from oncallnova.db.engine import create_engine, create_sessions
from oncallnova.embedded_nats import EmbeddedNats
from oncallnova.grpc_auth import AuthInterceptor
from oncallnova.grpc_errors import ErrorInterceptor
from oncallnova.grpc_telemetry import TelemetryInterceptor
from oncallnova.security.bootstrap import ensure_bootstrap_admin
from oncallnova.security.secret_files import jwt_secret
from oncallnova.settings import Settings

log = logging.getLogger(__name__)


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the CLI stops the whole platform, not only HTTP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Platform:
    settings: Settings
    worker_names: list[str]
    edge_names: list[str]
    serve_http: bool = True
    # Let other processes of the same edge listen on the same port (`oncallnova edge NAME`).
    share_port: bool = False
    run_migrations: bool = True
    nats: EmbeddedNats | None = None
    ctx: AppContext | None = None
    runners: dict[str, WorkerRunner] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    http: uvicorn.Server | None = None
    grpc_server: grpc.aio.Server | None = None
    grpc_port: int | None = None
    # The bootstrap admin's generated password, when this start made one (printed once).
    generated_admin_password: str | None = None
    metrics_server: Any = None
    # ≥ 2: the workers run in this many child processes instead of in this one.
    worker_processes: int = 1
    children: list[WorkerProcess] = field(default_factory=list)
    # Set in a child: the running platform's broker (no embedded server of its own), where to
    # report its counters, and the supervisor to follow.
    broker: str | None = None
    stats_file: Path | None = None
    parent_pid: int | None = None
    # How long start() waits for the children to report their workers running.
    children_start_s: float = 90.0

    async def start(self) -> AppContext:
        """Bring everything up; returns the shared context (tests use it directly)."""
        settings = self.settings
        nats_url = settings.nats_url
        if settings.embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.edge_names:
            # Refuse to start an edge without a usable signing secret (MissingSecret).
            jwt_secret(settings)
        if self.broker is not None:
            nats_url = self.broker
        elif settings.embedded:
            self.nats = EmbeddedNats(settings.data_dir / "nats")
            nats_url = await self.nats.start()
            # Restarted with backoff if it dies; if it cannot come back, wait() raises and
            # `oncallnova up` exits non-zero.
            self.tasks.append(asyncio.create_task(self.nats.supervise(), name="nats-server"))
        engine = create_engine(settings)
        if self.run_migrations:
            await migrate.upgrade(engine, settings.database_schema)
            self.generated_admin_password = await ensure_bootstrap_admin(
                create_sessions(engine), settings
            )
        bus: Bus = await connect(settings, nats_url)
        await provision(bus, with_kv=not settings.uses_redis)
        self.ctx = AppContext(
            settings=settings,
            engine=engine,
            sessions=create_sessions(engine),
            bus=bus,
            clock=system_clock,
        )
        if self.worker_processes >= 2:
            await self._start_children()
        for name in self.local_workers():
            worker = await WORKERS[name](self.ctx)
            runner = WorkerRunner(
                bus,
                worker,
                self.ctx.sessions,
                partitions=preferred_partitions(settings, worker.consumer),
            )
            self.runners[name] = runner
            self.ctx.runners[name] = runner
            self.ctx.components[f"worker:{name}"] = runner.is_running
            self.tasks.append(asyncio.create_task(runner.run(), name=f"worker:{name}"))
        if self.stats_file is not None:
            self.tasks.append(
                asyncio.create_task(report_stats(self.stats_file, self.runners), name="stats")
            )
        if self.parent_pid is not None:
            self.tasks.append(asyncio.create_task(follow_parent(self.parent_pid), name="parent"))
        if self.edge_names:
            self.grpc_server = grpc_server(self.ctx)
            if add_grpc_services(self.grpc_server, self.ctx, self.edge_names):
                # Reflection: `grpcurl` lists and calls the services without .proto files.
                reflection.enable_server_reflection(
                    [*grpc_service_names(self.edge_names), reflection.SERVICE_NAME],
                    self.grpc_server,
                )
                self.grpc_port = self.grpc_server.add_insecure_port(
                    f"{settings.host}:{settings.grpc_port}"
                )
                await self.grpc_server.start()
                self.ctx.components["grpc"] = _always
            else:
                self.grpc_server = None
        if self.serve_http and self.edge_names:
            await self._start_http()
        if settings.metrics_port:
            self.metrics_server, _ = serve_process_metrics(
                self.ctx, settings.host, settings.metrics_port
            )
        return self.ctx

    def local_workers(self) -> list[str]:
        """The workers this process runs itself (none when children run them)."""
        return [] if self.worker_processes >= 2 else list(self.worker_names)

    async def _start_children(self) -> None:
        """One child per group of workers; returns once every worker reports running."""
        assert self.ctx is not None
        groups = assign_workers(self.worker_names, self.worker_processes)
        for index, names in enumerate(groups):
            child = WorkerProcess(index, names, self.settings.data_dir)
            await child.start()
            self.children.append(child)
            for name in names:
                remote = RemoteRunner(name, child)
                self.ctx.runners[name] = remote
                self.ctx.components[f"worker:{name}"] = remote.is_running
            self.tasks.append(asyncio.create_task(child.supervise(), name=f"workers-{index}"))
        deadline = asyncio.get_running_loop().time() + self.children_start_s
        while not all(r.is_running() for r in self.ctx.runners.values()):
            for task in self.tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if asyncio.get_running_loop().time() > deadline:
                waiting = [n for n, r in self.ctx.runners.items() if not r.is_running()]
                raise RuntimeError(f"worker processes did not start: {', '.join(waiting)}")
            await asyncio.sleep(0.1)

    async def _start_http(self) -> None:
        assert self.ctx is not None
        app = create_app(self.ctx, self.edge_names, platform=self)
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self.http = QuietServer(config)
        sockets = [listening_socket(self.settings.host, self.settings.port, self.share_port)]
        self.tasks.append(asyncio.create_task(self.http.serve(sockets=sockets), name="http"))
        while not self.http.started:
            await asyncio.sleep(0.02)
            if self.tasks[-1].done():
                self.tasks[-1].result()  # raises the bind error
        self.ctx.components["http"] = self._http_running

    def _http_running(self) -> bool:
        return bool(self.http is not None and self.http.started and not self.http.should_exit)

    async def stop(self) -> None:
        """Stop taking work, finish what is in hand, drain the bus, stop the child server."""
        for task in self.tasks:
            if task.get_name() == "nats-server":
                task.cancel()  # no restarts while stopping
        if self.http is not None:
            self.http.should_exit = True
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace=5)
        for runner in self.runners.values():
            runner.stop()
        # Children stop before the broker, so they can give back what they fetched.
        await asyncio.gather(*(child.stop() for child in self.children))
        for task in self.tasks:
            if task.get_name() in ("stats", "parent"):
                task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=30)
        if self.ctx is not None:
            await self.ctx.bus.close()
            await self.ctx.engine.dispose()
        if self.nats is not None:
            await self.nats.stop()

    async def wait(self) -> None:
        """Until a component fails (its error is raised) or the tasks end."""
        done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


def preferred_partitions(settings: Settings, consumer: str) -> set[int] | None:
    """The partitions WORKER_PARTITIONS / `--partitions` names for this consumer, if any."""
    decl = declarations.consumer(consumer)
    if not settings.worker_partitions.strip() or not decl.partitions:
        return None
    return parse_partitions(settings.worker_partitions, decl.partitions)


def listening_socket(host: str, port: int, share: bool) -> socket.socket:
    """A listening TCP socket. With `share` (SO_REUSEPORT), several `oncallnova edge ingestion`
    processes can listen on one port and the kernel spreads connections across them; without
    it a second process on the port fails, as a second `oncallnova up` should."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # asyncio sets TCP_NODELAY only on sockets it creates itself; accepted connections inherit
    # it from this one. Without it Nagle's algorithm meets delayed ACKs: 6x fewer requests/s.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def grpc_server(ctx: AppContext) -> grpc.aio.Server:
    """A gRPC server whose every method passes the auth interceptor (inside the error one,
    which turns its refusals into UNAUTHENTICATED / PERMISSION_DENIED)."""
    return grpc.aio.server(
        interceptors=[TelemetryInterceptor(ctx.metrics), ErrorInterceptor(), AuthInterceptor(ctx)],
        options=[("grpc.max_receive_message_length", ctx.settings.max_body_bytes)],
    )


def _always() -> bool:
    return True


def everything(settings: Settings) -> Platform:
    """`oncallnova up`: every worker and edge; the workers in WORKER_PROCESSES children."""
    return Platform(
        settings,
        list(WORKERS),
        list(EDGES),
        worker_processes=worker_process_count(settings, os.cpu_count()),
    )


def only(settings: Settings, workers: Iterable[str] = (), edges: Iterable[str] = ()) -> Platform:
    return Platform(settings, list(workers), list(edges))
