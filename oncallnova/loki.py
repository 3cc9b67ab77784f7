"""Ship log records to Loki (`LOKI_URL`) without ever making the event loop wait.

`emit` only puts the formatted line on a bounded queue; a daemon thread batches lines and
pushes them to `/loki/api/v1/push`, one stream per level, labelled service, level and
environment. When Loki is slow or down the queue fills and further records are dropped and
counted (`dropped`), so memory stays bounded and the platform keeps running.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.request
from collections import defaultdict

PUSH_PATH = "/loki/api/v1/push"


class LokiHandler(logging.Handler):
    """A logging handler pushing batches to Loki from its own thread."""

    def __init__(
        self,
        url: str,
        *,
        service: str,
        environment: str,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        timeout_s: float = 2.0,
    ) -> None:
        super().__init__()
        base = url.rstrip("/")
        self.push_url = base if base.endswith(PUSH_PATH) else base + PUSH_PATH
        self.labels = {"service": service, "environment": environment}
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.timeout_s = timeout_s
        self.sent = 0
        self.dropped = 0
        self._queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="loki-push", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            entry = (str(int(record.created * 1e9)), line, record.levelname.lower())
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1
        except Exception:
            self.handleError(record)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[str, str, str]] = []
            deadline = time.monotonic() + self.flush_interval_s
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._push(batch)

    def _push(self, batch: list[tuple[str, str, str]]) -> None:
        by_level: dict[str, list[list[str]]] = defaultdict(list)
        for timestamp, line, level in batch:
            by_level[level].append([timestamp, line])
        body: dict[str, object] = {
            "streams": [
                {"stream": dict(self.labels, level=level), "values": values}
                for level, values in by_level.items()
            ]
        }
        request = urllib.request.Request(
            self.push_url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
            self.sent += len(batch)
        except Exception:
            # Loki is down or refused the batch: drop it rather than grow without bound.
            self.dropped += len(batch)

    def close(self) -> None:
        """Push what is queued (waiting at most a few seconds), then stop the thread."""
        try:
            self._queue.put(None, timeout=1.0)
        except queue.Full:
            pass
        self._thread.join(timeout=self.timeout_s + 2)
        super().close()
