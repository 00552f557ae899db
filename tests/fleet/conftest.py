"""A fleet of real ``dramatiq workers`` processes on Redis and PostgreSQL.

The emulators run in a process of their own (``wallet-sync emulate``), shared
by the module's tests and reset before each. Each test gets a fresh PostgreSQL
schema, its own broker namespace and a :class:`Fleet` that starts worker
masters as separate process groups (so one can be stopped or killed alone),
each logging JSON lines to its own file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import select

from pipeline.db import get_engine, session_scope
from pipeline.demo import emulator_controls
from pipeline.emulators import ApnsControl, GoogleControl
from pipeline.models import SyncOutcome, SyncRun
from pipeline.settings import Settings
from tests.conftest import drop_schema, fresh_schema_url
from tests.processes import BIN, running_emulators

RETRY_SCHEDULE_MS = "40,80,160"

pytestmark = pytest.mark.slow


@dataclass
class Worker:
    """One ``dramatiq workers`` master and its children, in a process group."""

    process: subprocess.Popen[bytes]
    log_file: Path
    processes: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the master and every process it started."""
        os.killpg(self.process.pid, signum)

    def terminate(self) -> None:
        """SIGTERM to the master only, as a container runtime sends it; the
        master passes it on to its worker processes once."""
        self.process.send_signal(signal.SIGTERM)

    def events(self) -> list[dict[str, Any]]:
        return parse_events(self.log_file)


def parse_events(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a file (Dramatiq's own plain lines are skipped)."""
    events = []
    for line in path.read_text(errors="replace").splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            event = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


@dataclass
class Fleet:
    env: dict[str, str]
    settings: Settings
    google: GoogleControl
    apple: ApnsControl
    workdir: Path
    workers: list[Worker] = field(default_factory=list)

    def start(self, processes: int = 1, threads: int = 8, **environment: str) -> Worker:
        """Start one master with ``processes`` worker processes."""
        log_file = self.workdir / f"worker-{len(self.workers)}.log"
        with log_file.open("wb") as stream:
            process = subprocess.Popen(
                [
                    str(BIN / "dramatiq"),
                    "workers",
                    "--processes",
                    str(processes),
                    "--threads",
                    str(threads),
                    "--worker-shutdown-timeout",
                    "30000",
                ],
                env={**self.env, **environment},
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log_file, processes)
        self.workers.append(worker)
        return worker

    def wait_ready(self, worker: Worker, timeout_s: float = 30) -> None:
        """Wait until every worker process of ``worker`` has booted."""
        wait_until(
            lambda: (
                worker.log_file.read_text().count("process is ready for action")
                >= worker.processes
            ),
            timeout_s,
            f"worker {worker.pid} did not boot",
        )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Log events of every worker started so far, optionally one kind."""
        return [
            event
            for worker in self.workers
            for event in worker.events()
            if name is None or event["event"] == name
        ]

    def seed(self, cards: int, seed: int = 3) -> dict[str, Any]:
        """The demo data set and its faults; returns the failure plan."""
        from pipeline.demo import install

        return install(self.settings, cards, seed, self.google, self.apple).as_dict()

    def start_run(self) -> int:
        """Open a run and hand it to the finder, as ``wallet-sync run`` does."""
        from pipeline import runs

        run_id = runs.open_run(self.settings, "manual")
        assert run_id is not None
        self.send("find_cards", {"run_id": run_id}, control=True)
        return run_id

    def send(
        self,
        actor: str,
        kwargs: dict[str, Any],
        *,
        control: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Enqueue a message for the fleet's actors by name."""
        queue = self.settings.queue_name + ("-control" if control else "")
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=self.settings.broker_url,
            namespace=self.settings.broker_namespace,
            middleware=[],
        )
        broker.declare_queue(queue)
        broker.enqueue(Message(queue, actor, (), kwargs, options or {}))
        broker.close()

    def report(self, run_id: int, timeout_s: float = 60) -> dict[str, Any]:
        from pipeline import runs

        report = runs.wait_for_report(self.settings, run_id, timeout_s=timeout_s)
        assert report is not None, f"run {run_id} did not close in {timeout_s} s"
        return report

    def outcomes(self, run_id: int) -> list[SyncOutcome]:
        with session_scope(self.settings.database_url) as session:
            rows = list(
                session.scalars(select(SyncOutcome).where(SyncOutcome.run_id == run_id))
            )
            session.expunge_all()
            return rows

    def runs(self) -> list[SyncRun]:
        with session_scope(self.settings.database_url) as session:
            rows = list(session.scalars(select(SyncRun).order_by(SyncRun.id)))
            session.expunge_all()
            return rows

    def settled(self, run_id: int) -> int:
        """Cards of the run that have an outcome already."""
        return sum(1 for row in self.outcomes(run_id) if row.status != "pending")

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                worker.signal(signal.SIGKILL)
                worker.process.wait(timeout=10)


def wait_until(
    condition: Callable[[], bool], timeout_s: float, message: str, poll_s: float = 0.05
) -> float:
    """Poll ``condition``; returns the seconds it took, fails after the timeout."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, message
        time.sleep(poll_s)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def emulator_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``wallet-sync emulate`` on free ports, and the settings it wrote."""
    with running_emulators(tmp_path_factory.mktemp("fleet-emulators")) as env:
        yield env


@pytest.fixture
def fleet(
    emulator_env: dict[str, str],
    postgres_admin_url: str,
    redis_url: str,
    tmp_path: Path,
) -> Iterator[Fleet]:
    """Fresh schema and namespace, reset emulators, no workers yet."""
    from pipeline.migrate import upgrade

    schema = f"ws_fleet_{uuid.uuid4().hex[:10]}"
    namespace = f"wallet-sync-fleet-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WALLET_SYNC_")},
        **emulator_env,
        "WALLET_SYNC_DATABASE_URL": fresh_schema_url(postgres_admin_url, schema),
        "WALLET_SYNC_BROKER_URL": redis_url,
        "WALLET_SYNC_BROKER_NAMESPACE": namespace,
        "WALLET_SYNC_RETRY_SCHEDULE_MS": RETRY_SCHEDULE_MS,
        "WALLET_SYNC_LOG_FORMAT": "json",
        "WALLET_SYNC_METRICS_PORT": "0",
        # Idle consumers poll every 100 ms instead of every second, so the
        # millisecond retry schedule is not stretched by polling.
        "dramatiq_worker_timeout": "100",
    }
    settings = Settings(**settings_of(env))
    upgrade(settings.database_url)
    with emulator_controls(settings) as (google, apple):
        google.reset()
        apple.reset()
        fleet = Fleet(env, settings, google, apple, tmp_path)
        try:
            yield fleet
        finally:
            fleet.stop()
    get_engine(settings.database_url).dispose()
    drop_schema(postgres_admin_url, schema)
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)


def settings_of(env: dict[str, str]) -> dict[str, Any]:
    prefix = "WALLET_SYNC_"
    return {
        key[len(prefix) :].lower(): value
        for key, value in env.items()
        if key.startswith(prefix) and not key.startswith("WALLET_SYNC_TEST_")
    }
