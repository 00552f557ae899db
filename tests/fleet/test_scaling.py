"""Three worker processes share one run: every card ends exactly once."""

from __future__ import annotations

from collections import Counter

from tests.fleet.conftest import Fleet


def terminal_lines(fleet: Fleet) -> Counter[int]:
    """How many finished/failed log lines each card got, over every worker."""
    return Counter(
        event["card_id"]
        for event in fleet.events()
        if event["event"] in ("card.finished", "card.failed")
    )


def test_three_worker_processes_sync_two_thousand_cards_once_each(
    fleet: Fleet,
) -> None:
    """Every card is synced or failed exactly once, by more than one process."""
    plan = fleet.seed(2000)
    workers = [fleet.start(processes=1, threads=8) for _ in range(3)]
    for worker in workers:
        fleet.wait_ready(worker)

    run_id = fleet.start_run()
    report = fleet.report(run_id, timeout_s=90)

    assert report["cards_total"] == 2000
    assert report["cards_synced"] + report["cards_failed"] == 2000
    assert report["failed_card_ids"] == plan["failing_card_ids"]
    assert not set(report["failed_card_ids"]) & set(plan["recovering_card_ids"])
    outcomes = fleet.outcomes(run_id)
    assert len(outcomes) == 2000
    assert {row.status for row in outcomes} == {"synced", "failed"}
    assert terminal_lines(fleet) == Counter(range(1, 2001))

    pids_per_worker = [
        {e["pid"] for e in worker.events() if e["event"] == "card.finished"}
        for worker in workers
    ]
    assert all(pids_per_worker), pids_per_worker
    assert len(set().union(*pids_per_worker)) == 3
    assert len(fleet.events("run.finished")) == 1
    (run,) = fleet.runs()
    assert run.status == "closed"
    assert run.report == report
