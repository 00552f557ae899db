"""One real pipeline for the session: PostgreSQL, Redis, emulators, workers.

Actors bind to one broker per process, so the session declares them once on a
Redis broker of its own namespace and runs an in-process Dramatiq worker with
eight threads. Each test starts from empty tables, no faults and an empty
request log. The retry schedule is in milliseconds so that retries are quick
but still ordered in time.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import text

from pipeline.demo import emulator_controls
from pipeline.emulators import ApnsControl, GoogleControl
from pipeline.settings import Settings, get_settings
from tests import factories
from tests.conftest import drop_schema, fresh_schema_url

RETRY_SCHEDULE_MS = (60, 120, 240)
TABLES = (
    "sync_outcomes",
    "wallet_breakers",
    "sync_runs",
    "apple_registrations",
    "apple_devices",
    "point_transactions",
    "loyalty_cards",
    "programs",
    "merchants",
)


@dataclass
class Harness:
    settings: Settings
    broker: RedisBroker
    google: GoogleControl
    apple: ApnsControl

    def run(self, timeout_s: float = 60) -> dict[str, Any]:
        """Open a run now and return its report once it closes."""
        from pipeline import api, runs

        run_id = api.start_run(self.settings)
        report = runs.wait_for_report(self.settings, run_id, timeout_s=timeout_s)
        assert report is not None, f"run {run_id} did not close in {timeout_s} s"
        return report

    def wait_idle(self, timeout_s: float = 30) -> None:
        """Wait until no card message is queued, delayed or running, and no
        control message is queued or running (run deadlines stay delayed)."""
        from pipeline import actors

        namespace = self.broker.namespace
        keys = [
            f"{namespace}:{actors.CARDS_QUEUE}.msgs",
            f"{namespace}:{actors.CARDS_QUEUE}.DQ.msgs",
            f"{namespace}:{actors.CONTROL_QUEUE}.msgs",
        ]
        deadline = time.monotonic() + timeout_s
        while sum(self.broker.client.hlen(key) for key in keys):
            assert time.monotonic() < deadline, "the pipeline did not go idle"
            time.sleep(0.02)

    def requests(self, wallet: str, target: str) -> list[dict[str, Any]]:
        control = self.google if wallet == "google" else self.apple
        return [dict(call) for call in control.requests(target=target)]


@pytest.fixture(scope="session")
def harness(
    postgres_admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    from pipeline import logs
    from pipeline.emulators import EmulatorStack

    schema = f"ws_e2e_{uuid.uuid4().hex[:10]}"
    namespace = f"wallet-sync-test-{uuid.uuid4().hex[:10]}"
    workdir: Path = tmp_path_factory.mktemp("emulators")
    database_url = fresh_schema_url(postgres_admin_url, schema)
    with EmulatorStack.start(workdir) as stack:
        settings = _declare_actors(
            {
                **stack.env,
                "WALLET_SYNC_DATABASE_URL": database_url,
                "WALLET_SYNC_BROKER_URL": redis_url,
                "WALLET_SYNC_BROKER_NAMESPACE": namespace,
                "WALLET_SYNC_RETRY_SCHEDULE_MS": ",".join(map(str, RETRY_SCHEDULE_MS)),
                "WALLET_SYNC_RUN_DEADLINE_S": "900",
            }
        )
        logs.configure("DEBUG", "json")
        from pipeline import actors, migrate

        migrate.upgrade(database_url)
        worker = Worker(actors.broker, worker_threads=8, worker_timeout=20)
        worker.start()
        try:
            assert isinstance(actors.broker, RedisBroker)
            with emulator_controls(settings) as (google, apple):
                yield Harness(settings, actors.broker, google, apple)
        finally:
            worker.stop()
            actors.card_sync.clients.close()
            _drop_namespace(redis_url, namespace)
            from pipeline.db import get_engine

            get_engine(database_url).dispose()
            drop_schema(postgres_admin_url, schema)


def _declare_actors(environment: dict[str, str]) -> Settings:
    """Read settings from ``environment`` once, then declare the actors."""
    saved = dict(os.environ)
    os.environ.update(environment)
    try:
        get_settings.cache_clear()
        settings = get_settings()
        from pipeline import broker

        broker.setup(settings)
        import pipeline.actors  # noqa: F401
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return settings


def _drop_namespace(redis_url: str, namespace: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def pipeline(harness: Harness) -> Iterator[Harness]:
    """The session's pipeline, idle, with empty tables and emulators reset."""
    from pipeline.db import get_engine

    harness.wait_idle()
    with get_engine(harness.settings.database_url).begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    from pipeline import actors

    for control in (harness.google, harness.apple):
        control.reset()
    actors.card_sync.clients.google().ensure_class(
        factories.CLASS_ID, "Test Merchant", "Test Rewards"
    )
    yield harness
    harness.wait_idle()
