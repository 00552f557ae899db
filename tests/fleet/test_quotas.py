"""A rate limit per wallet API, shared by every worker process through Redis."""

from __future__ import annotations

from tests.fleet.conftest import Fleet

GOOGLE_RATE = 40
SLOTS = 4  # 40 per second are handed out as 4 per 100 ms bucket


def busiest_second(times: list[float]) -> int:
    """The most calls that arrived within any one-second window."""
    times = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_three_worker_processes_together_stay_under_the_google_rate(
    fleet: Fleet,
) -> None:
    """24 threads in 3 processes never exceed 40 Google calls in any second."""
    plan = fleet.seed(250)
    # The first few calls are told to slow down; they wait out a shared
    # cool-down and go again instead of spending the card's retries.
    fleet.google.add_fault(status=429, times=5)
    workers = [
        fleet.start(
            processes=1,
            threads=8,
            WALLET_SYNC_GOOGLE_RATE_LIMIT=str(GOOGLE_RATE),
            WALLET_SYNC_RATE_LIMIT_COOLDOWN_MS="300",
        )
        for _ in range(3)
    ]
    for worker in workers:
        fleet.wait_ready(worker)

    run_id = fleet.start_run()
    report = fleet.report(run_id, timeout_s=90)

    calls = [
        call["time"]
        for call in fleet.google.requests()
        if "/loyaltyObject" in call["path"]
    ]
    assert len(calls) > 150
    # Arrival times carry a few milliseconds of jitter on top of the limit.
    assert busiest_second(calls) <= GOOGLE_RATE + SLOTS + 2
    # The limit was binding: the calls took about as long as the rate allows.
    assert max(calls) - min(calls) >= len(calls) / GOOGLE_RATE - 1.5
    assert report["failed_card_ids"] == plan["failing_card_ids"]
    assert "rate_limited" not in report["errors_by_kind"]
    faulted = {fault["card_id"] for fault in plan["faults"]}
    retried = [
        row.card_id
        for row in fleet.outcomes(run_id)
        if row.attempts > 1 and row.card_id not in faulted
    ]
    assert retried == []
    assert len(fleet.events("wallet.rate_limited")) >= 1
    pids = {e["pid"] for e in fleet.events("card.finished")}
    assert len(pids) == 3
