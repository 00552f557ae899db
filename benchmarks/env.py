"""The benchmark's private world: a schema, a Redis namespace, the emulators.

Everything is created under names of its own and removed on the way out, even
when a case fails, so a benchmark can run next to the test suite and other
engineers' work on the same Redis and PostgreSQL.
"""

from __future__ import annotations

import os
import platform
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import create_engine, text

from pipeline import emulators
from pipeline.emulators import GoogleControl

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = os.environ.get("WALLET_SYNC_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
REDIS_URL = os.environ.get("WALLET_SYNC_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
EMULATOR_START_S = 60.0


def schema_url(admin_url: str, schema: str) -> str:
    """A URL whose connections work inside ``schema``."""
    separator = "&" if "?" in admin_url else "?"
    return f"{admin_url}{separator}options=-csearch_path%3D{schema}"


def run_sql(admin_url: str, statement: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@contextmanager
def private_schema(prefix: str) -> Iterator[str]:
    """A migrated schema of this run's own; yields its URL, drops it after."""
    from pipeline.migrate import upgrade

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    run_sql(POSTGRES_URL, f'CREATE SCHEMA "{schema}"')
    url = schema_url(POSTGRES_URL, schema)
    try:
        upgrade(url)
        yield url
    finally:
        from pipeline.db import get_engine

        get_engine(url).dispose()
        run_sql(POSTGRES_URL, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def flush_namespace(client: redis.Redis, namespace: str) -> int:
    """Delete every key of the namespace; returns how many there were."""
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start : start + 500])
    return len(keys)


@contextmanager
def private_namespace(prefix: str) -> Iterator[str]:
    namespace = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield namespace
    finally:
        flush_namespace(client, namespace)
        client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def emulator_process(workdir: Path) -> Iterator[dict[str, str]]:
    """Both emulators in a process of their own, logging to a file; yields
    their settings. In the workers' process they would share its GIL."""
    with (
        (workdir / "emulators.log").open("w") as log,
        emulators.emulator_process(
            workdir, output=log, start_timeout_s=EMULATOR_START_S
        ) as env,
    ):
        yield env


@dataclass
class World:
    """Where one benchmark run lives, and the settings pointing there."""

    workdir: Path
    database_url: str
    namespace: str
    emulator_env: dict[str, str]
    extra: dict[str, str] = field(default_factory=dict)
    metrics_port: int = field(default_factory=lambda: free_port())

    @property
    def env(self) -> dict[str, str]:
        """The environment for worker processes and this driver."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("WALLET_SYNC_")}
        return {
            **base,
            **self.emulator_env,
            "WALLET_SYNC_DATABASE_URL": self.database_url,
            "WALLET_SYNC_BROKER_URL": REDIS_URL,
            "WALLET_SYNC_BROKER_NAMESPACE": self.namespace,
            "WALLET_SYNC_LOG_FORMAT": "json",
            # Metrics stay on, as in production, on a port and in a folder of
            # this run's own so that nothing else on the host collides with it.
            "WALLET_SYNC_METRICS_PORT": str(self.metrics_port),
            "dramatiq_prom_db": str(self.workdir / "prometheus"),
            **self.extra,
        }

    def adopt(self) -> None:
        """Make this process's settings point at the world (before any import of
        ``pipeline.actors``)."""
        from pipeline.settings import get_settings

        for key, value in self.env.items():
            if key.startswith("WALLET_SYNC_"):
                os.environ[key] = value
        get_settings.cache_clear()
        import pipeline.actors  # noqa: F401  (declared on the pipeline's broker)

    def google_control(self) -> GoogleControl:
        root = self.emulator_env["WALLET_SYNC_GOOGLE_API_URL"].split("/walletobjects/")
        return GoogleControl(root[0], httpx.Client(timeout=30))

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(REDIS_URL)


@contextmanager
def world(prefix: str = "wsbench") -> Iterator[World]:
    """Schema, namespace, emulators and a scratch folder, all removed after."""
    with (
        tempfile.TemporaryDirectory(prefix=f"{prefix}-") as folder,
        private_schema(prefix.replace("-", "_")) as database_url,
        private_namespace(prefix) as namespace,
        emulator_process(Path(folder)) as emulator_env,
    ):
        yield World(Path(folder), database_url, namespace, emulator_env)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        ),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "dramatiq": metadata.version("dramatiq"),
        "redis-py": metadata.version("redis"),
        "hiredis": _version_or_none("hiredis"),
        "httpx": metadata.version("httpx"),
        "sqlalchemy": metadata.version("sqlalchemy"),
        "psycopg": metadata.version("psycopg"),
        "postgresql": _postgres_version(),
        "redis-server": _redis_version(),
    }


def _version_or_none(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _postgres_version() -> str:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


def _redis_version() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()
