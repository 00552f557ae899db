"""Every setting wallet-sync reads, in one place.

Values come from ``WALLET_SYNC_*`` environment variables (or a ``.env`` file in
the working directory) and are read once per process by :func:`get_settings`.
README lists them all; keep the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_GOOGLE_API_URL = "https://walletobjects.googleapis.com/walletobjects/v1"
DEFAULT_APNS_URL = "https://api.push.apple.com"


class Settings(BaseSettings):
    """Typed settings; the field name in upper case, prefixed, is the variable."""

    model_config = SettingsConfigDict(
        env_prefix="WALLET_SYNC_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        "sqlite:///wallet-sync.sqlite3",
        description="SQLAlchemy URL; PostgreSQL in production (postgresql+psycopg://).",
    )
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis URL of the Dramatiq broker."
    )
    broker_namespace: str = Field(
        "wallet-sync", description="Prefix of every Redis key the broker writes."
    )
    queue_name: str = Field(
        "wallet-sync",
        description="Queue of card messages; runs are opened and closed on "
        "'<name>-control'.",
    )
    heartbeat_timeout_ms: int = Field(
        15_000,
        gt=0,
        description="A worker silent this long is presumed dead; its messages return.",
    )
    maintenance_chance: int = Field(
        200_000,
        ge=0,
        le=1_000_000,
        description="Per-million chance that a broker call runs dead-worker recovery.",
    )

    retry_schedule_ms: Annotated[tuple[int, ...], NoDecode] = Field(
        (1000, 4000, 16000),
        description="Waits before attempts 2, 3, 4 … of a card (comma-separated ms).",
    )
    run_deadline_s: int = Field(
        1800, gt=0, description="A run still open this long after it opened is closed."
    )
    config_error_threshold: int = Field(
        3,
        ge=1,
        description="Credential/certificate failures after which a run stops a wallet.",
    )
    finder_page_size: int = Field(
        1000, gt=0, description="Cards enqueued per round trip."
    )
    alert_failure_rate: float = Field(
        0.05, ge=0, le=1, description="Failure rate that alerts (0 to 1)."
    )
    alert_failed_cards: int = Field(
        10, ge=0, description="Failed cards above which a run is flagged systemic."
    )

    google_api_url: str = Field(
        DEFAULT_GOOGLE_API_URL, description="Base URL of the Google Wallet REST API."
    )
    google_credentials_file: Path | None = Field(
        None, description="Service-account JSON key; its token_uri is used as is."
    )
    google_issuer_id: str = Field("", description="Google Wallet issuer id.")
    apns_url: str = Field(
        DEFAULT_APNS_URL, description="APNs; passes update only in production."
    )
    apns_cert_file: Path | None = Field(None, description="Pass Type ID certificate.")
    apns_key_file: Path | None = Field(None, description="Its private key (PEM).")
    apns_ca_file: Path | None = Field(
        None, description="CA bundle to verify APNs with; system CAs when unset."
    )
    apns_topic: str = Field(
        "", description="Pass type id the certificate is for (checked by status)."
    )
    http_connect_timeout_s: float = Field(
        5.0, gt=0, description="Connect timeout of calls."
    )
    http_read_timeout_s: float = Field(15.0, gt=0, description="Read timeout of calls.")
    http_pool_size: int = Field(
        64, gt=0, description="Connections per wallet per process."
    )

    google_rate_limit: float = Field(
        0.0,
        ge=0,
        description="Google Wallet API requests per second, shared by every worker "
        "process through Redis; 0 means unlimited.",
    )
    apns_rate_limit: float = Field(
        0.0,
        ge=0,
        description="APNs pushes per second, shared by every worker process "
        "through Redis; 0 means unlimited.",
    )
    rate_limit_cooldown_ms: int = Field(
        5000,
        ge=0,
        description="After a 429 or a rate-limit reason, every process pauses "
        "that wallet this long (or as long as Retry-After says).",
    )
    rate_limit_max_wait_ms: int = Field(
        60_000,
        ge=0,
        description="Longest one call waits for a slot or a cool-down before it "
        "fails as rate_limited and takes the card's normal retry.",
    )
    metrics_port: int = Field(
        9191,
        ge=0,
        le=65535,
        description="Port of a worker host's Prometheus endpoint (`dramatiq "
        "workers` only); 0 turns metrics off.",
    )
    metrics_host: str = Field(
        "0.0.0.0", description="Address the Prometheus endpoint listens on."
    )

    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: JSON unless stderr is a terminal."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Level of the root logger."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("retry_schedule_ms", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")]
            if value.strip() and not all(part.isdigit() for part in parts):
                raise ValueError(
                    "expected whole milliseconds separated by commas, "
                    f"like 1000,4000,16000; got {value!r}"
                )
            return tuple(int(part) for part in parts if part)
        return value

    @field_validator("retry_schedule_ms")
    @classmethod
    def _check_schedule(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry waits must not be negative")
        return value

    @property
    def max_attempts(self) -> int:
        """Attempts a card gets in one run: the first plus one per scheduled wait."""
        return len(self.retry_schedule_ms) + 1


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings()
