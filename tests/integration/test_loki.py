"""Log records reach a real Loki push endpoint in batches with their labels; when it is down
they are dropped and counted, and logging never waits for it."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from oncallnova.logs import JsonFormatter
from oncallnova.loki import LokiHandler


class FakeLoki(ThreadingHTTPServer):
    """Accepts pushes on /loki/api/v1/push and keeps their bodies."""

    def __init__(self) -> None:
        self.pushes: list[dict] = []
        self.paths: list[str] = []
        pushes, paths = self.pushes, self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                paths.append(self.path)
                pushes.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def loki() -> Iterator[FakeLoki]:
    server = FakeLoki()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def logger_with(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"loki-test-{id(handler)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger


def wait_for(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    raise AssertionError("condition not met")


def test_records_are_pushed_in_batches_with_service_level_environment(loki: FakeLoki) -> None:
    handler = LokiHandler(
        f"http://127.0.0.1:{loki.server_port}",
        service="oncallnova-lifecycle",
        environment="test",
        flush_interval_s=0.1,
    )
    handler.setFormatter(JsonFormatter())
    logger = logger_with(handler)
    for i in range(50):
        logger.info("handled %d", i)
    logger.error("failed")
    wait_for(lambda: handler.sent == 51)
    handler.close()
    assert set(loki.paths) == {"/loki/api/v1/push"}
    assert len(loki.pushes) < 51  # batched, not one request per line
    streams = [s for push in loki.pushes for s in push["streams"]]
    labels = {tuple(sorted(s["stream"].items())) for s in streams}
    assert labels == {
        (("environment", "test"), ("level", "info"), ("service", "oncallnova-lifecycle")),
        (("environment", "test"), ("level", "error"), ("service", "oncallnova-lifecycle")),
    }
    lines = [json.loads(line) for s in streams for _, line in s["values"]]
    assert [line["message"] for line in lines if line["level"] == "info"] == [
        f"handled {i}" for i in range(50)
    ]
    assert handler.dropped == 0


def test_when_loki_hangs_or_is_down_records_are_dropped_and_counted_without_waiting() -> None:
    # A Loki that takes the connection and never answers: a handler that waited on the network
    # would hold each logging call for its whole push timeout (60 s here).
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)  # never accepted, never answered
    handler = LokiHandler(
        f"http://127.0.0.1:{hanging.getsockname()[1]}",
        service="oncallnova",
        environment="test",
        max_queue=100,
        flush_interval_s=0.05,
        timeout_s=60,
    )
    logger = logger_with(handler)
    logging_thread = threading.Thread(
        target=lambda: [logger.warning("record %d", i) for i in range(5000)], daemon=True
    )
    logging_thread.start()
    logging_thread.join(timeout=30)  # far less than the 60 s a single waiting call would take
    assert not logging_thread.is_alive(), "a logging call waited on Loki"
    # Never waited on the network: while the first push hangs, one batch is in hand and the
    # queue holds 100; every other record was dropped on the spot. Counts, not a stopwatch, so
    # a loaded machine cannot fail it.
    assert handler.sent == 0
    assert handler.dropped >= 5000 - 100 - handler.batch_size, handler.dropped
    hanging.close()  # now Loki is down: the hung push is reset, the rest is refused
    wait_for(lambda: handler.dropped + handler.sent == 5000, timeout=30)
    assert handler.sent == 0 and handler.dropped == 5000
    assert handler._queue.qsize() <= 100  # bounded whatever happens
    handler.close()
