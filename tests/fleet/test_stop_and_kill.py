"""Workers stopped or killed mid-run: no card lost, none counted twice."""

from __future__ import annotations

import signal
import time
from collections import Counter
from functools import partial
from typing import Any

import redis
from sqlalchemy import select

from pipeline.db import session_scope
from pipeline.models import LoyaltyCard
from tests.fleet.conftest import Fleet, Worker, wait_until

#: Every API call takes this long, so that a run of a few hundred cards is
#: still going when a worker is stopped.
LATENCY_MS = 40


def terminal_lines(fleet: Fleet) -> Counter[int]:
    return Counter(
        event["card_id"]
        for event in fleet.events()
        if event["event"] in ("card.finished", "card.failed")
    )


def start_three(fleet: Fleet, **environment: str) -> list[Worker]:
    workers = [fleet.start(processes=1, threads=8, **environment) for _ in range(3)]
    for worker in workers:
        fleet.wait_ready(worker)
    return workers


def slow_emulators(fleet: Fleet) -> None:
    fleet.google.set_latency(LATENCY_MS)
    fleet.apple.set_latency(LATENCY_MS)


def unacked(client: redis.Redis, namespace: str, queue: str) -> dict[str, set[Any]]:
    """Fetched-but-unacknowledged message ids per worker process (broker id)."""
    prefix = f"{namespace}:__acks__."
    found = {}
    for key in client.scan_iter(f"{prefix}*.{queue}"):
        broker_id = key.decode()[len(prefix) : -len(queue) - 1]
        found[broker_id] = client.smembers(key)
    return found


def test_a_worker_stopped_with_sigterm_mid_run_loses_and_repeats_nothing(
    fleet: Fleet,
) -> None:
    """SIGTERM: the worker exits cleanly and the run closes with the right report.

    Dead-worker recovery is pushed out to ten minutes, so the run can only
    close in time if the stopped worker finished or handed back every message
    it had taken.
    """
    plan = fleet.seed(600)
    slow_emulators(fleet)
    workers = start_three(fleet, WALLET_SYNC_HEARTBEAT_TIMEOUT_MS="600000")
    run_id = fleet.start_run()
    wait_until(lambda: fleet.settled(run_id) >= 150, 60, "the run did not start")

    workers[0].terminate()
    exit_code = workers[0].process.wait(timeout=40)
    report = fleet.report(run_id, timeout_s=60)

    assert exit_code == 0
    assert report["cards_total"] == 600
    assert report["failed_card_ids"] == plan["failing_card_ids"]
    assert "lost" not in report["errors_by_kind"]
    assert terminal_lines(fleet) == Counter(range(1, 601))
    stopped = {e["pid"] for e in workers[0].events() if e["event"] == "card.finished"}
    assert stopped, "the stopped worker had done no work before SIGTERM"
    assert len(fleet.events("run.finished")) == 1


def test_a_killed_worker_s_messages_come_back_within_the_heartbeat_bound(
    fleet: Fleet,
) -> None:
    """kill -9: its unacknowledged cards are redelivered and synced by the others."""
    heartbeat_ms = 2000
    plan = fleet.seed(600)
    slow_emulators(fleet)
    workers = start_three(fleet, WALLET_SYNC_HEARTBEAT_TIMEOUT_MS=str(heartbeat_ms))
    namespace, queue = fleet.settings.broker_namespace, fleet.settings.queue_name
    client = redis.Redis.from_url(fleet.settings.broker_url)
    run_id = fleet.start_run()
    wait_until(lambda: fleet.settled(run_id) >= 150, 60, "the run did not start")

    before = unacked(client, namespace, queue)
    workers[0].signal(signal.SIGKILL)
    killed_at = time.monotonic()
    workers[0].process.wait(timeout=10)
    time.sleep(0.5)
    after = unacked(client, namespace, queue)
    # The survivors keep fetching and acking; the dead process's set is frozen.
    (dead,) = [b for b, ids in after.items() if b in before and ids == before[b]]
    in_flight = after[dead]
    assert in_flight, "the killed worker held no messages"
    recovered_in = wait_until(
        lambda: not client.exists(f"{namespace}:__acks__.{dead}.{queue}"),
        30,
        "the killed worker's messages were never redelivered",
    ) + (time.monotonic() - killed_at - 0.5)
    report = fleet.report(run_id, timeout_s=60)

    assert recovered_in < heartbeat_ms / 1000 + 5
    assert report["cards_total"] == 600
    assert set(plan["failing_card_ids"]) <= set(report["failed_card_ids"])
    assert "lost" not in report["errors_by_kind"]
    outcomes = fleet.outcomes(run_id)
    assert sorted(row.card_id for row in outcomes) == list(range(1, 601))
    assert {row.status for row in outcomes} == {"synced", "failed"}
    assert max(terminal_lines(fleet).values()) == 1
    assert len(fleet.events("run.finished")) == 1


def test_a_card_that_kills_every_worker_fails_as_crashed_after_the_attempt_limit(
    fleet: Fleet,
) -> None:
    """Each attempt hangs until its worker is killed; attempt five gives up."""
    plan = fleet.seed(10)
    poison = first_unplanned_google_card(fleet, plan)
    assert poison.google_object_id is not None
    fleet.google.add_fault(poison.google_object_id, latency_ms=120_000)
    environment = {
        "WALLET_SYNC_HEARTBEAT_TIMEOUT_MS": "1000",
        "WALLET_SYNC_MAINTENANCE_CHANCE": "1000000",
        "WALLET_SYNC_HTTP_READ_TIMEOUT_S": "300",
    }
    run_id = fleet.start_run()
    for attempt in range(1, fleet.settings.max_attempts + 1):
        worker = fleet.start(processes=1, threads=2, **environment)
        wait_until(
            partial(attempt_started, fleet, run_id, poison.id, attempt),
            30,
            f"attempt {attempt} at the card never started",
        )
        wait_until(
            lambda: fleet.settled(run_id) == 9, 30, "the other cards did not settle"
        )
        time.sleep(0.3)  # let the call reach the emulator, where it hangs
        worker.signal(signal.SIGKILL)
        worker.process.wait(timeout=10)
    fleet.start(processes=1, threads=2, **environment)
    report = fleet.report(run_id, timeout_s=30)

    assert report["failed_card_ids"] == sorted([*plan["failing_card_ids"], poison.id])
    assert report["errors_by_kind"].get("crashed") == 1
    (row,) = [r for r in fleet.outcomes(run_id) if r.card_id == poison.id]
    assert (row.error_kind, row.attempts) == ("crashed", 5)


def attempt_started(fleet: Fleet, run_id: int, card_id: int, attempt: int) -> bool:
    """Whether the ledger counted ``attempt`` at the card (before its work)."""
    rows = [r.attempts for r in fleet.outcomes(run_id) if r.card_id == card_id]
    return bool(rows) and rows[0] >= attempt


def first_unplanned_google_card(fleet: Fleet, plan: dict[str, Any]) -> LoyaltyCard:
    planned = {fault["card_id"] for fault in plan["faults"]}
    with session_scope(fleet.settings.database_url) as session:
        card = session.scalars(
            select(LoyaltyCard)
            .where(LoyaltyCard.google_object_id.is_not(None))
            .where(LoyaltyCard.id.not_in(planned))
            .order_by(LoyaltyCard.id)
        ).first()
        assert card is not None
        session.expunge(card)
        return card
