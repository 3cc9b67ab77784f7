"""`oncallnova`: run the platform, one worker or one edge, migrations, and manage services."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from oncallnova.security.secret_files import MissingSecret
from oncallnova.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name in ("host", "port", "data_dir", "grpc_port", "worker_partitions"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def calm_garbage_collector() -> None:
    """Move everything start-up allocated out of the collector's sight and collect the young
    generation less often: full collections over long-lived module objects were pauses of
    several milliseconds in the middle of a batch."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def _serve(platform) -> None:  # type: ignore[no-untyped-def]
    """Start, print where things are, run until Ctrl-C/SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await platform.start()
    except MissingSecret as error:
        await platform.stop()
        print(f"oncallnova: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except BaseException:
        # A failed start (a taken port, an unreachable database) must not leave the embedded
        # nats-server or open connections behind.
        await platform.stop()
        raise
    calm_garbage_collector()
    settings = platform.settings
    base = f"http://{settings.host}:{settings.port}"
    lines = ["OnCallNova is running."]
    if platform.generated_admin_password:
        # Printed this once, to the terminal only (never logged): it is not stored anywhere.
        lines += [
            "  First start: an admin account was created; log in with",
            "    username   admin",
            f"    password   {platform.generated_admin_password}",
            "  and change it (POST /api/v1/auth/password): it is not shown again.",
        ]
    if platform.http is not None:
        lines += [
            f"  UI and API     {base}/",
            f"  API docs       {base}/docs",
            f"  PagerDuty v2   {base}/v2/enqueue",
            f"  Alertmanager   {base}/api/v1/integrations/alertmanager/<integration-key>",
            f"  Health         {base}/healthz",
        ]
    if platform.grpc_port:
        lines.append(f"  gRPC           {settings.host}:{platform.grpc_port}")
    if platform.nats is not None:
        lines.append(
            f"  NATS           {platform.nats.url} (embedded, data in {settings.data_dir})"
        )
        from oncallnova.embedded_nats import PRODUCER_SUBJECTS

        lines.append(
            f"  NATS users     {platform.nats.data_dir / 'credentials.json'} "
            f"(producer: publish {', '.join(PRODUCER_SUBJECTS)} only)"
        )
    if platform.children:
        groups = "; ".join(", ".join(child.names) for child in platform.children)
        lines.append(f"  workers        {groups} ({len(platform.children)} processes)")
    elif platform.runners:
        lines.append(f"  workers        {', '.join(platform.runners)}")
    print("\n".join(lines), flush=True)
    waiter = asyncio.create_task(platform.wait())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done():
            waiter.result()
    finally:
        print("OnCallNova: stopping (finishing in-flight work)…", flush=True)
        waiter.cancel()
        stopper.cancel()
        await platform.stop()
        print("OnCallNova: stopped.", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    from app.supervisor import everything

    asyncio.run(_serve(everything(_settings(args))))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.workers import WORKERS

    return _run_one(args, "worker", WORKERS)


def cmd_edge(args: argparse.Namespace) -> int:
    from app.edges import EDGES

    return _run_one(args, "edge", EDGES)


def _run_one(args: argparse.Namespace, kind: str, known: Mapping[str, object]) -> int:
    """One worker (or several, `a,b`) or one edge alone: the database is migrated by
    `oncallnova migrate` or `up`. Without NATS_URL a worker joins the platform running on the
    data directory (its embedded broker), if one runs there."""
    from app.supervisor import only
    from oncallnova.embedded_nats import broker_url, running_url

    names = [n.strip() for n in args.name.split(",")] if kind == "worker" else [args.name]
    for name in names:
        if name not in known:
            print(f"unknown {kind} {name!r}; one of: {', '.join(known)}", file=sys.stderr)
            return 2
    settings = _settings(args)
    platform = only(
        settings,
        workers=names if kind == "worker" else (),
        edges=names if kind == "edge" else (),
    )
    platform.run_migrations = False
    platform.share_port = kind == "edge"
    if kind == "worker":
        if settings.embedded and running_url(settings.data_dir) is not None:
            platform.broker = broker_url(None, settings.data_dir)
        platform.stats_file = getattr(args, "stats_file", None)
        platform.parent_pid = getattr(args, "parent_pid", None)
    asyncio.run(_serve(platform))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from oncallnova.db import migrate
    from oncallnova.db.engine import create_engine, create_sessions
    from oncallnova.security.bootstrap import ensure_bootstrap_admin

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> str | None:
        engine = create_engine(settings)
        try:
            await migrate.upgrade(engine, settings.database_schema)
            # The bootstrap admin too (ONCALLNOVA_ADMIN_PASSWORD), as `up` would make it.
            return await ensure_bootstrap_admin(create_sessions(engine), settings)
        finally:
            await engine.dispose()

    generated = asyncio.run(run())
    print("database is at the newest revision")
    if generated:
        print(f"an admin account was created: username admin, password {generated} (shown once)")
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    from oncallnova.db import migrate
    from oncallnova.db.engine import create_engine, create_sessions
    from oncallnova.db.repositories import incidents as repo
    from oncallnova.display import safe_text
    from oncallnova.errors import OnCallNovaError

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> int:
        engine = create_engine(settings)
        try:
            await migrate.upgrade(engine, settings.database_schema)
            async with create_sessions(engine).begin() as session:
                if args.action == "create":
                    try:
                        service = await repo.create_service(
                            session, args.name, description=args.description
                        )
                    except OnCallNovaError as error:
                        print(error.message, file=sys.stderr)
                        return 1
                    record = _service_json(service)
                    print(json.dumps(record) if args.json else service.integration_key)
                    return 0
                services = await repo.list_services(session)
                if args.json:
                    print(json.dumps([_service_json(s) for s in services]))
                else:
                    for s in services:
                        # Names are stored as sent; a terminal must not obey escapes in them.
                        print(f"{s.integration_key}  {s.id}  {safe_text(s.name)}")
                return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_incident(args: argparse.Namespace) -> int:
    """`incident list`: newest incidents, titles shown escaped (`--json`: exactly as stored)."""
    from oncallnova.db.engine import create_engine, create_sessions
    from oncallnova.db.repositories import incidents as repo
    from oncallnova.display import safe_text

    settings = _settings(args)

    async def run() -> int:
        engine = create_engine(settings)
        try:
            async with create_sessions(engine)() as session:
                rows, _ = await repo.list_incidents(session, limit=args.limit, offset=0)
            if args.json:
                print(json.dumps([
                    {"id": i.id, "number": i.number, "status": i.status,
                     "severity": i.severity, "title": i.title}
                    for i in rows
                ]))  # fmt: skip
            else:
                for i in rows:
                    # Titles are stored as sent; a terminal must not obey escapes in them.
                    print(f"#{i.number}  {i.status:12s}  {i.severity:8s}  {safe_text(i.title)}")
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_dlq(args: argparse.Namespace) -> int:
    from oncallnova.bus.connection import connect
    from oncallnova.bus.dead_letters import dead_letters, replay
    from oncallnova.display import safe_text
    from oncallnova.embedded_nats import broker_url

    settings = _settings(args)
    try:
        url = broker_url(settings.nats_url, settings.data_dir)
    except LookupError as error:
        print(error, file=sys.stderr)
        return 2

    async def run() -> int:
        bus = await connect(settings, url)
        try:
            if args.action == "replay":
                count = await replay(bus, args.consumer, args.limit)
                print(f"replayed {count} dead letter(s) of {args.consumer}")
                return 0
            letters = [letter async for letter in dead_letters(bus, args.consumer)]
            if args.json:
                print(json.dumps([
                    {"sequence": d.sequence, "consumer": d.consumer, "subject": d.subject,
                     "reason": d.reason, "deliveries": d.deliveries, "original_id": d.original_id}
                    for d in letters
                ]))  # fmt: skip
            else:
                for d in letters:
                    print(
                        f"{d.sequence}  {d.consumer}  {safe_text(d.subject)}  {safe_text(d.reason)}"
                    )
            return 0
        finally:
            await bus.close()

    return asyncio.run(run())


def _new_password(args: argparse.Namespace) -> str | None:
    """The password from stdin (`--password-stdin`), else a generated one; None if too weak."""
    import secrets

    from oncallnova.security.passwords import password_problem

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        problem = password_problem(password)
        if problem:
            print(f"password: {problem}", file=sys.stderr)
            return None
        return password
    return secrets.token_urlsafe(18)


def cmd_user(args: argparse.Namespace) -> int:
    """`user create` / `user reset-password`: accounts from the command line (for the first
    admin in services mode, or when the last admin forgot their password)."""
    from sqlalchemy import select

    from oncallnova.db import migrate
    from oncallnova.db.engine import create_engine, create_sessions
    from oncallnova.db.models.oncall import User
    from oncallnova.db.repositories import oncall as people
    from oncallnova.db.types import utcnow
    from oncallnova.errors import OnCallNovaError
    from oncallnova.security.passwords import hash_password

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    password = _new_password(args)
    if password is None:
        return 2

    async def run() -> int:
        engine = create_engine(settings)
        try:
            await migrate.upgrade(engine, settings.database_schema)
            async with create_sessions(engine).begin() as session:
                if args.action == "create":
                    try:
                        await people.create_user(
                            session,
                            name=args.name or args.username,
                            email=args.email or f"{args.username}@oncallnova.invalid",
                            time_zone="UTC",
                            contact_methods=[],
                            username=args.username,
                            role=args.role,
                            password_hash=hash_password(password),
                        )
                    except OnCallNovaError as error:
                        print(error.message, file=sys.stderr)
                        return 1
                else:
                    user = await session.scalar(
                        select(User).where(
                            (User.username == args.username) | (User.email == args.username)
                        )
                    )
                    if user is None:
                        print(f"no user {args.username!r}", file=sys.stderr)
                        return 1
                    user.password_hash = hash_password(password)
                    user.password_changed_at = utcnow()
        finally:
            await engine.dispose()
        if not args.password_stdin:
            # Shown this once, on the terminal; only its argon2id hash is stored.
            print(f"password for {args.username}: {password}")
        else:
            print(f"password for {args.username} set")
        return 0

    return asyncio.run(run())


def cmd_replay(args: argparse.Namespace) -> int:
    from app.replay import run

    return run(args, _settings(args))


def cmd_status(args: argparse.Namespace) -> int:
    from app.status import run

    return run(args, _settings(args))


def _service_json(service) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"id": service.id, "name": service.name, "integration_key": service.integration_key}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncallnova", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, http: bool = False) -> None:
        p.add_argument(
            "--data-dir", type=Path, help="where the embedded default keeps its data (./data)"
        )
        if http:
            p.add_argument("--host", help="address to listen on (127.0.0.1)")
            p.add_argument("--port", type=int, help="HTTP port for UI and API (8080)")
            p.add_argument("--grpc-port", type=int, help="gRPC port (50051)")

    up = sub.add_parser(
        "up", help="run the whole platform (embedded default unless NATS_URL etc. are set)"
    )
    common(up, http=True)
    up.set_defaults(func=cmd_up)

    worker = sub.add_parser(
        "worker",
        help="run one worker, or several as a,b (fingerprinter, correlator, lifecycle, "
        "escalator, notifier, webhook_fanout, webhooker, metrics, metrics_alerts)",
    )
    worker.add_argument("name")
    worker.add_argument(
        "--partitions",
        dest="worker_partitions",
        help="partitions this copy takes first, e.g. 0-2,5 (correlator, lifecycle; default all)",
    )
    # Set by `oncallnova up` for the worker processes it supervises.
    worker.add_argument("--stats-file", type=Path, help=argparse.SUPPRESS)
    worker.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    common(worker)
    worker.set_defaults(func=cmd_worker)

    edge = sub.add_parser(
        "edge", help="run one edge service (ingestion, incidents, oncall, webui, exporter)"
    )
    edge.add_argument("name")
    common(edge, http=True)
    edge.set_defaults(func=cmd_edge)

    mig = sub.add_parser("migrate", help="bring the database to the newest schema")
    common(mig)
    mig.set_defaults(func=cmd_migrate)

    service = sub.add_parser("service", help="create or list services")
    service_sub = service.add_subparsers(dest="action", required=True)
    create = service_sub.add_parser("create", help="create a service and print its integration key")
    create.add_argument("name")
    create.add_argument("--description")
    create.add_argument("--json", action="store_true", help="print id, name and key as JSON")
    common(create)
    listing = service_sub.add_parser("list", help="list services and their integration keys")
    listing.add_argument("--json", action="store_true")
    common(listing)
    service.set_defaults(func=cmd_service)

    incident = sub.add_parser("incident", help="list incidents")
    incident_sub = incident.add_subparsers(dest="action", required=True)
    incidents = incident_sub.add_parser("list", help="newest incidents first")
    incidents.add_argument("--limit", type=int, default=50)
    incidents.add_argument("--json", action="store_true", help="titles exactly as stored")
    common(incidents)
    incident.set_defaults(func=cmd_incident)
    user = sub.add_parser("user", help="create a login, or reset a password")
    user_sub = user.add_subparsers(dest="action", required=True)
    user_create = user_sub.add_parser(
        "create", help="create a user who can log in; prints a generated password once"
    )
    user_create.add_argument("username")
    user_create.add_argument("--role", choices=["admin", "responder", "viewer"], default="viewer")
    user_create.add_argument("--email", help="defaults to USERNAME@oncallnova.invalid")
    user_create.add_argument("--name", help="display name (defaults to the username)")
    reset = user_sub.add_parser(
        "reset-password", help="set a new password (generated and printed once, unless piped)"
    )
    reset.add_argument("username", help="username or email")
    for p in (user_create, reset):
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        common(p)
    user.set_defaults(func=cmd_user)

    dlq = sub.add_parser("dlq", help="list dead letters, or replay them once the cause is fixed")
    dlq_sub = dlq.add_subparsers(dest="action", required=True)
    dlq_list = dlq_sub.add_parser("list", help="dead letters with their reasons, oldest first")
    dlq_list.add_argument(
        "--consumer", help="only this worker's (fingerprinter, correlator, lifecycle)"
    )
    dlq_list.add_argument("--json", action="store_true")
    common(dlq_list)
    dlq_replay = dlq_sub.add_parser(
        "replay", help="publish a worker's dead letters to their subjects again"
    )
    dlq_replay.add_argument("--consumer", required=True)
    dlq_replay.add_argument("--limit", type=int, help="at most this many")
    common(dlq_replay)
    dlq.set_defaults(func=cmd_dlq)

    replay = sub.add_parser(
        "replay",
        help="replay stored raw alerts: a dry run through the workers' decisions, or into "
        "another namespace",
    )
    replay.add_argument(
        "--subject", required=True, help="raw alerts to read: the received-alert topic's .> "
        "or one format's subject"
    )  # fmt: skip
    start = replay.add_mutually_exclusive_group(required=True)
    start.add_argument("--since", help="from this long ago (1h, 30m) or this time (ISO 8601)")
    start.add_argument("--from-seq", type=int, help="from this stream sequence")
    replay.add_argument("--to", help="up to this stream sequence, or this long ago / time")
    replay.add_argument("--service", help="only alerts of this service (name or id)")
    mode = replay.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--dry-run", action="store_true", help="print decisions; change nothing anywhere"
    )
    mode.add_argument(
        "--into", metavar="NAMESPACE", help="re-drive into this namespace's streams and schema"
    )
    replay.add_argument(
        "--pace", action="store_true", help="with --into: keep the messages' original spacing"
    )
    replay.add_argument("--json", action="store_true", help="one JSON object per line")
    common(replay)
    replay.set_defaults(func=cmd_replay)

    status = sub.add_parser(
        "status", help="streams, consumers, dead letters, health and versions; exit 1 if "
        "something needs attention"
    )  # fmt: skip
    status.add_argument("--json", action="store_true")
    common(status)
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as error:
        # A setting the platform cannot honour stops it at start with the reason, no traceback.
        for problem in error.errors():
            print(f"oncallnova: invalid setting: {problem['msg']}", file=sys.stderr)
        return 2
    from oncallnova.logs import setup_logging
    from oncallnova.telemetry import service_name_for, setup_tracing

    service = service_name_for(args.command, [getattr(args, "name", "")])
    setup_logging(
        settings.log_level,
        settings.log_format,
        loki_url=settings.loki_url,
        service=service,
        environment=settings.environment,
    )
    setup_tracing(service)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
