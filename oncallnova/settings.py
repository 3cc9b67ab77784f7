"""One Settings object per process, read from the environment once at start and passed down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as `300`, `90s`, `5m`, `1h`, `7d`."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use seconds or 90s / 5m / 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Settings(BaseSettings):
    """Process configuration; unset DATABASE_URL/NATS_URL/REDIS_URL means the embedded default."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str | None = None
    # PostgreSQL schema to use (tests give each run its own); None = the server default.
    database_schema: str | None = None
    nats_url: str | None = None
    redis_url: str | None = None
    # Prefix for every subject, stream and bucket, so several deployments or test runs share
    # one NATS server without seeing each other's messages.
    nats_namespace: str = Field(default="", pattern=r"^[a-z0-9_]*$")
    # Stream and bucket replicas: 3 on the distributed deployment's JetStream cluster.
    nats_replicas: int = Field(default=1, ge=1, le=5)
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int = 50051
    correlation_window: float = 300.0
    # How long the ALERTS_ARCHIVE stream keeps raw alerts, for `oncallnova replay`.
    alert_retention: float = 7 * 86400.0
    # Backlog limits of the work streams (docs/operations.md, "Backlog limits"): past them
    # ingestion refuses (429 backlog_full) instead of any stream dropping unhandled work.
    # The ALERT_ limits apply to ALERTS (raw) and to ALERTS_FINGERPRINTED, each.
    alert_backlog_max_msgs: int = Field(default=1_000_000, ge=1)
    alert_backlog_max_bytes: int = Field(default=1024**3, ge=1024)
    command_backlog_max_msgs: int = Field(default=1_000_000, ge=1)
    command_backlog_max_bytes: int = Field(default=1024**3, ge=1024)
    fetch_batch: int = 256
    # Lifecycle batches in flight at once in one process (only batches on different incidents
    # overlap, so per-incident order holds).
    lifecycle_concurrency: int = Field(default=2, ge=1, le=16)
    # Partitions a copy of a partitioned worker (correlator, lifecycle) asks for first, as
    # `0-2,5`; it takes the others only when no copy holds them. Empty: all alike.
    worker_partitions: str = Field(default="", pattern=r"^[0-9,\- ]*$")
    # `oncallnova up`: child processes the workers are spread over, so the HTTP edge and the
    # workers do not share one core. Unset: one per CPU, at most 4 (1 on a single CPU); 0 or
    # 1: every worker in the one process, beside the edges.
    worker_processes: int | None = Field(default=None, ge=0, le=16)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    # --- security (see docs/security.md) ---
    # HS256 signing secret: generated into the data dir on the embedded default; required
    # (at least 32 bytes) in services and distributed mode.
    jwt_secret: SecretStr | None = None
    jwt_expiry: float = 24 * 3600.0
    # The bootstrap admin's password (username `admin`), used once when no `admin` exists.
    oncallnova_admin_password: SecretStr | None = None
    # When set, /metrics wants `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: SecretStr | None = None
    # Login attempts per client address per minute, failed logins per username per minute.
    login_rate_per_ip: int = Field(default=30, ge=1)
    login_failures_per_username: int = Field(default=10, ge=1)
    # Events per integration key per minute (0 = no limit); counted in each edge process.
    events_rate_limit: int = Field(default=600_000, ge=0)
    # Largest request body any route takes (the ingest routes keep their own 512 KB limit).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Browsers get the session cookie with `Secure` when the request came over https, or always
    # with COOKIE_SECURE=true (behind a TLS-terminating proxy).
    cookie_secure: bool = False

    # --- paging: email -----------------------------------------------------------------
    # No SMTP_HOST: the notifier runs a capture inbox (readable at GET /api/v1/mail).
    smtp_host: str | None = None
    smtp_port: int = Field(default=0, ge=0, le=65535)  # 0: 25, 587 (starttls) or 465 (tls)
    smtp_from: str = "OnCallNova <oncallnova@localhost>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout: float = Field(default=10.0, gt=0)
    # Where people reach the platform: the base of links in emails and webhooks.
    public_url: str = "http://127.0.0.1:8080"
    # Key of the one-click links in emails; unset: one generated and kept in the database.
    action_link_secret: str | None = None
    # How often the escalator looks for due timers (seconds).
    escalator_tick: float = Field(default=0.2, gt=0, le=5)

    # --- paging: webhooks ---------------------------------------------------------------
    # Hosts or CIDRs a webhook may reach although private/loopback (comma-separated).
    webhook_allowed_hosts: str = ""
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    # First retry after about this many seconds, doubling each time (with jitter), ≤ 1 h.
    webhook_retry_base: float = Field(default=5.0, gt=0)
    # Failed attempts in a row after which a subscription is paused.
    webhook_pause_after: int = Field(default=20, ge=1)
    # Loki's base URL (…/loki/api/v1/push is added): log records are also pushed there.
    loki_url: str | None = None
    # The `environment` label of logs shipped to Loki.
    environment: str = "local"
    # `oncallnova worker NAME` alone serves its own /metrics on this port when set.
    metrics_port: int | None = None

    @field_validator("correlation_window", mode="before")
    @classmethod
    def _window(cls, value: object) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("CORRELATION_WINDOW must be positive")
        return seconds

    @field_validator("alert_retention", mode="before")
    @classmethod
    def _retention(cls, value: object) -> float:
        seconds = parse_duration(value)
        if seconds < 60:
            raise ValueError("ALERT_RETENTION must be at least a minute (7d by default)")
        return seconds

    @model_validator(mode="after")
    def _window_fits_the_store(self) -> Settings:
        # Without Redis, windows live in NATS KV, whose per-key TTL is whole seconds: refuse a
        # window it would silently round instead of correlating over another span.
        if self.redis_url is None and not float(self.correlation_window).is_integer():
            raise ValueError(
                f"CORRELATION_WINDOW={self.correlation_window:g}s: without REDIS_URL correlation "
                "windows are kept in NATS KV, whose expiry is in whole seconds; use a whole "
                "number of seconds (at least 1s) or set REDIS_URL"
            )
        return self

    @field_validator("jwt_expiry", mode="before")
    @classmethod
    def _expiry(cls, value: object) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("JWT_EXPIRY must be positive")
        return seconds

    @property
    def embedded(self) -> bool:
        """True when no external NATS is configured: start the bundled nats-server."""
        return self.nats_url is None

    @property
    def uses_redis(self) -> bool:
        return self.redis_url is not None

    def database_url_or_default(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'oncallnova.db').resolve()}"
