"""The production path by hand, as README describes it, in separate processes.

Emulators from ``wallet-sync emulate``, a PostgreSQL schema, ``wallet-sync
seed``, two ``dramatiq workers`` processes on Redis, and ``wallet-sync run
--wait``, with the production retry schedule of 1 s, 4 s and 16 s.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.settings import Settings
from tests.conftest import drop_schema, fresh_schema_url
from tests.processes import BIN, running_emulators

WAITS_S = (1.0, 4.0, 16.0)

pytestmark = pytest.mark.slow


def wallet_sync(env: dict[str, str], *args: str, timeout: float = 120) -> Any:
    done = subprocess.run(
        [str(BIN / "wallet-sync"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[dict[str, str]]:
    with running_emulators(tmp_path) as env:
        yield env


@pytest.fixture
def environment(
    emulators: dict[str, str], postgres_admin_url: str, redis_url: str
) -> Iterator[dict[str, str]]:
    schema = f"ws_prod_{uuid.uuid4().hex[:10]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WALLET_SYNC_")},
        **emulators,
        "WALLET_SYNC_DATABASE_URL": fresh_schema_url(postgres_admin_url, schema),
        "WALLET_SYNC_BROKER_URL": redis_url,
        "WALLET_SYNC_BROKER_NAMESPACE": f"wallet-sync-prod-{uuid.uuid4().hex[:8]}",
        "WALLET_SYNC_LOG_FORMAT": "json",
    }
    yield env
    drop_schema(postgres_admin_url, schema)


def test_two_worker_processes_report_exactly_the_seeded_failures(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """Seed's failing cards are the report's; transient ones got 4 spaced calls."""
    assert wallet_sync(environment, "db", "upgrade").returncode == 0
    seeded = wallet_sync(environment, "seed", "--cards", "300", "--seed", "5", "--json")
    assert seeded.returncode == 0, seeded.stderr
    plan = json.loads(seeded.stdout)["plan"]
    log = (tmp_path / "workers.log").open("w")
    workers = subprocess.Popen(
        [str(BIN / "dramatiq"), "workers", "-p", "2", "-t", "8"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        done = wallet_sync(
            environment, "run", "--wait", "--json", "--timeout", "150", timeout=180
        )
    finally:
        workers.send_signal(signal.SIGTERM)
        workers.wait(timeout=60)
        log.close()

    assert done.returncode == 1, done.stderr  # some cards failed, as planned
    report = json.loads(done.stdout)
    assert report["failed_card_ids"] == plan["failing_card_ids"]
    assert report["cards_total"] == 300
    assert not set(report["failed_card_ids"]) & set(plan["recovering_card_ids"])
    check_calls_per_fault(Settings(**settings_of(environment)), plan["faults"])


def settings_of(environment: dict[str, str]) -> dict[str, str]:
    prefix = "WALLET_SYNC_"
    return {
        key[len(prefix) :].lower(): value
        for key, value in environment.items()
        if key.startswith(prefix)
    }


def check_calls_per_fault(settings: Settings, faults: list[dict[str, Any]]) -> None:
    from pipeline.demo import emulator_controls

    with emulator_controls(settings) as (google, apple):
        for fault in faults:
            check_calls(google if fault["wallet"] == "google" else apple, fault)


def check_calls(control: Any, fault: dict[str, Any]) -> None:
    """Never-clearing 5xx: 4 calls spaced by the schedule; a 400: one call."""
    calls = control.requests(target=fault["target"])
    times = sorted(call["time"] for call in calls)
    if fault["times"] is None and fault["status"] >= 500:
        assert len(calls) == 4, fault
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        for gap, wait in zip(gaps, WAITS_S, strict=True):
            assert gap >= wait, (fault, gaps)
    elif fault["status"] == 400:
        assert len(calls) == 1, fault
