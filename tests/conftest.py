"""Shared fixtures: the real PostgreSQL and Redis, each test isolated.

A test that needs a service skips when it is not running on a laptop, and
fails in CI (``CI=true``), where .ci/run starts them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get(
    "WALLET_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("WALLET_SYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _no_wallet_sync_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test's own choices, never the caller's shell."""
    for name in list(os.environ):
        if name.startswith("WALLET_SYNC_") and not name.startswith("WALLET_SYNC_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        with redis.Redis.from_url(REDIS_URL) as client:
            client.ping()
    except redis.RedisError as error:
        unavailable("Redis", error)
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    engine = create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as error:
        unavailable("PostgreSQL", error)
    finally:
        engine.dispose()
    return POSTGRES_ADMIN_URL


def fresh_schema_url(admin_url: str, schema: str) -> str:
    """Create ``schema`` and return a URL whose connections live in it."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in admin_url else "?"
    return f"{admin_url}{separator}options=-csearch_path%3D{schema}"


def drop_schema(admin_url: str, schema: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A migrated, empty PostgreSQL schema of this test's own."""
    from pipeline.migrate import upgrade

    schema = f"ws_test_{uuid.uuid4().hex[:12]}"
    url = fresh_schema_url(postgres_admin_url, schema)
    upgrade(url)
    yield url
    from pipeline.db import get_engine

    get_engine(url).dispose()
    drop_schema(postgres_admin_url, schema)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """A migrated, empty SQLite file of this test's own."""
    from pathlib import Path

    from pipeline.migrate import upgrade

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'wallet-sync.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))
