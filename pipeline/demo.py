"""Wire the pipeline to the emulators: the one-command demo and ``seed``.

This module and the CLI are the only parts of the pipeline that know the
emulators exist; the rest talks to whatever URLs the settings name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
from dramatiq import Worker

from pipeline import migrate, seed
from pipeline.db import session_scope
from pipeline.emulators import ApnsControl, GoogleControl
from pipeline.settings import Settings, get_settings
from pipeline.wallets.apple import client_tls_context
from pipeline.wiring import google_client, http_timeout


class FaultControl(Protocol):
    def add_fault(
        self, target: str = ..., status: int | None = ..., *, times: int | None = ...
    ) -> Any: ...


def install(
    settings: Settings,
    cards: int,
    seed_value: int,
    google: FaultControl,
    apple: FaultControl,
) -> seed.Plan:
    """Seed the database, create the classes, and arm the plan's faults."""
    targets = seed.Targets(settings.google_issuer_id, settings.apns_topic)
    client = google_client(settings)
    try:
        for class_id, issuer_name, program_name in seed.class_ids(targets):
            client.ensure_class(class_id, issuer_name, program_name)
    finally:
        client.close()
    with session_scope(settings.database_url) as session:
        plan = seed.seed(session, cards, seed_value, targets)
    for fault in plan.faults:
        control = google if fault.wallet == "google" else apple
        control.add_fault(fault.target, fault.status, times=fault.times)
    return plan


@contextmanager
def emulator_controls(
    settings: Settings,
) -> Iterator[tuple[GoogleControl, ApnsControl]]:
    """Control clients for emulators already running where the settings point."""
    google_root = settings.google_api_url.split("/walletobjects/")[0]
    assert settings.apns_cert_file is not None
    assert settings.apns_key_file is not None
    tls = client_tls_context(
        settings.apns_cert_file, settings.apns_key_file, settings.apns_ca_file
    )
    timeout = http_timeout(settings)
    with (
        httpx.Client(timeout=timeout) as plain,
        httpx.Client(http2=True, verify=tls, timeout=timeout) as secure,
    ):
        yield GoogleControl(google_root, plain), ApnsControl(settings.apns_url, secure)


@contextmanager
def demo_environment(workdir: Path | None) -> Iterator[tuple[Settings, Any]]:
    """Emulators on loopback and a SQLite file, with settings pointing at both."""
    from pipeline.emulators import EmulatorStack

    with (
        _workdir(workdir) as folder,
        EmulatorStack.start(folder / "emulators") as stack,
    ):
        os.environ.update(stack.env)
        os.environ["WALLET_SYNC_DATABASE_URL"] = f"sqlite:///{folder / 'demo.sqlite3'}"
        get_settings.cache_clear()
        settings = get_settings()
        migrate.upgrade(settings.database_url)
        yield settings, stack


@contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="wallet-sync-demo-") as folder:
        yield Path(folder)


def run_demo(
    cards: int, seed_value: int, *, workdir: Path | None = None, timeout_s: float = 300
) -> dict[str, Any]:
    """Seed, run one sync run on the in-process broker, return report and plan."""
    from pipeline import broker as broker_setup
    from pipeline import runs

    with demo_environment(workdir) as (settings, stack):
        broker = broker_setup.setup(settings, in_process=True)
        from pipeline import api

        plan = install(
            settings, cards, seed_value, stack.google_control, stack.apns_control
        )
        worker = Worker(broker, worker_threads=8, worker_timeout=100)
        worker.start()
        try:
            run_id = api.start_run(settings)
            report = runs.wait_for_report(settings, run_id, timeout_s=timeout_s)
        finally:
            worker.stop()
    if report is None:
        raise TimeoutError(f"run {run_id} did not close within {timeout_s:.0f} s")
    return {"report": report, "plan": plan.as_dict()}
