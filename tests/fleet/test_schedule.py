"""The hourly trigger through real worker processes: once per hour, no gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from pipeline.db import session_scope
from pipeline.models import LoyaltyCard
from tests.fleet.conftest import Fleet, wait_until


def trigger(fleet: Fleet, scheduled_at: datetime) -> None:
    """What periodiq sends at minute 0: hourly_sync with its scheduled time."""
    fleet.send(
        "hourly_sync",
        {},
        control=True,
        options={"scheduled_at": scheduled_at.isoformat()},
    )


def test_two_schedulers_open_one_run_and_a_missed_hour_leaves_no_card_behind(
    fleet: Fleet,
) -> None:
    """A doubled trigger opens one run; after a missed hour the next run covers
    every card that changed meanwhile, and records the gap."""
    plan = fleet.seed(50)
    for _ in range(2):
        fleet.start(processes=1, threads=4)
    for worker in fleet.workers:
        fleet.wait_ready(worker)
    now = datetime.now(UTC)

    trigger(fleet, now)
    trigger(fleet, now)
    wait_until(lambda: len(fleet.events("run.duplicate_trigger")) == 1, 30, "no dup")
    (first,) = fleet.runs()
    first_report = fleet.report(first.id)

    changed = [4, 8, 15, 16, 23]
    with session_scope(fleet.settings.database_url) as session:
        session.execute(
            update(LoyaltyCard)
            .where(LoyaltyCard.id.in_(changed))
            .values(version=LoyaltyCard.version + 1)
        )
    trigger(fleet, now + timedelta(hours=2))
    wait_until(lambda: len(fleet.runs()) == 2, 30, "the later hour opened no run")
    second = fleet.runs()[1]
    second_report = fleet.report(second.id)

    hour = now.replace(minute=0, second=0, microsecond=0)
    assert first.scheduled_for == hour
    assert first_report["cards_total"] == 50
    assert first_report["missed_hours"] == 0
    assert second.scheduled_for == hour + timedelta(hours=2)
    assert second_report["missed_hours"] == 1
    covered = {row.card_id for row in fleet.outcomes(second.id)}
    assert covered == set(changed) | set(plan["failing_card_ids"])
    assert len(fleet.events("run.finished")) == 2
