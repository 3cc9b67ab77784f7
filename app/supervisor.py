"""The supervisor: starts the chosen workers and edges in one process and stops them cleanly.

`oncallnova up` runs all of them; `oncallnova worker NAME` / `edge NAME` run one. Start order:
(embedded nats-server) → database migrations → bus + provisioning → workers → HTTP/gRPC.
Stop order is the reverse, and each worker finishes the batch in hand before the bus drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field

import grpc
import uvicorn

from app.edges import EDGES, add_grpc_services
from app.http import create_app
from app.workers import WORKERS
from oncallnova.bus.connection import Bus, connect
from oncallnova.bus.provision import provision
from oncallnova.bus.runtime import WorkerRunner
from oncallnova.context import AppContext, system_clock
from oncallnova.db import migrate
from oncallnova.db.engine import create_engine, create_sessions
from oncallnova.embedded_nats import EmbeddedNats
from oncallnova.grpc_auth import AuthInterceptor
from oncallnova.grpc_errors import ErrorInterceptor
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

    async def start(self) -> AppContext:
        """Bring everything up; returns the shared context (tests use it directly)."""
        settings = self.settings
        nats_url = settings.nats_url
        if settings.embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.edge_names:
            # Refuse to start an edge without a usable signing secret (MissingSecret).
            jwt_secret(settings)
        if settings.embedded:
            self.nats = EmbeddedNats(settings.data_dir / "nats")
            nats_url = await self.nats.start()
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
        for name in self.worker_names:
            worker = await WORKERS[name](self.ctx)
            runner = WorkerRunner(bus, worker, self.ctx.sessions)
            self.runners[name] = runner
            self.ctx.runners[name] = runner
            self.ctx.components[f"worker:{name}"] = runner.is_running
            self.tasks.append(asyncio.create_task(runner.run(), name=f"worker:{name}"))
        if self.edge_names:
            self.grpc_server = grpc_server(self.ctx)
            if add_grpc_services(self.grpc_server, self.ctx, self.edge_names):
                self.grpc_port = self.grpc_server.add_insecure_port(
                    f"{settings.host}:{settings.grpc_port}"
                )
                await self.grpc_server.start()
                self.ctx.components["grpc"] = _always
            else:
                self.grpc_server = None
        if self.serve_http and self.edge_names:
            await self._start_http()
        return self.ctx

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
        if self.http is not None:
            self.http.should_exit = True
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace=5)
        for runner in self.runners.values():
            runner.stop()
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
        interceptors=[ErrorInterceptor(), AuthInterceptor(ctx)],
        options=[("grpc.max_receive_message_length", ctx.settings.max_body_bytes)],
    )


def _always() -> bool:
    return True


def everything(settings: Settings) -> Platform:
    return Platform(settings, list(WORKERS), list(EDGES))


def only(settings: Settings, workers: Iterable[str] = (), edges: Iterable[str] = ()) -> Platform:
    return Platform(settings, list(workers), list(edges))
