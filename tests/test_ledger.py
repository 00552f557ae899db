"""The run ledger on SQLite and PostgreSQL: runs, outcomes, closing, reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from pipeline import ledger
from pipeline.db import get_engine, session_scope
from pipeline.models import OutcomeStatus, SyncRun
from tests import factories

HOUR = datetime(2026, 12, 3, 14, tzinfo=UTC)
THRESHOLDS = ledger.Thresholds(failure_rate=0.05, failed_cards=10)


def open_run(url: str, scheduled_for: datetime | None = None) -> int | None:
    with session_scope(url) as session:
        return ledger.open_run(
            session, "test", deadline=timedelta(hours=1), scheduled_for=scheduled_for
        )


def record(
    url: str, run_id: int, card_id: int, status: OutcomeStatus, **error: str
) -> int | None:
    """Record an outcome as a worker does; the cards still pending, or None."""
    with session_scope(url) as session:
        recorded = ledger.record_outcome(session, run_id, card_id, status, **error)
    return ledger.count_down(get_engine(url), run_id) if recorded else None


def test_a_second_trigger_for_the_same_hour_opens_no_run(database_url: str) -> None:
    """Two periodic triggers for one hour give one run; the second gets None."""
    first = open_run(database_url, HOUR)
    second = open_run(database_url, HOUR)

    assert first is not None
    assert second is None


def test_hours_without_a_run_are_counted_on_the_next_one(database_url: str) -> None:
    """A scheduled run three hours after the previous one reports two missed hours."""
    open_run(database_url, HOUR)
    later = open_run(database_url, HOUR + timedelta(hours=3))

    with session_scope(database_url) as session:
        run = session.get_one(SyncRun, later)
        assert run.missed_hours == 2


def test_only_cards_behind_their_wallets_are_due(database_url: str) -> None:
    """Due means: has a wallet integration whose synced version is behind."""
    with session_scope(database_url) as session:
        due_google = factories.card(session, apple=False).id
        due_apple = factories.card(session, google=False).id
        factories.card(session, synced=True)
        factories.card(session, google=False, apple=False)
    run_id = open_run(database_url)
    assert run_id is not None

    with session_scope(database_url) as session:
        total = ledger.add_due_cards(session, run_id)
        pending = ledger.card_ids_page(session, run_id, after=0, limit=100)

    assert total == 2
    assert pending == sorted([due_google, due_apple])


def test_the_first_outcome_of_a_card_wins(database_url: str) -> None:
    """A duplicate delivery's outcome is ignored and the pending count drops once."""
    with session_scope(database_url) as session:
        card_ids = [factories.card(session).id for _ in range(2)]
    run_id = open_run(database_url)
    assert run_id is not None
    with session_scope(database_url) as session:
        ledger.add_cards(session, run_id, card_ids)

    first = record(database_url, run_id, card_ids[0], OutcomeStatus.SYNCED)
    again = record(
        database_url, run_id, card_ids[0], OutcomeStatus.FAILED, error_kind="timeout"
    )

    assert first == 1
    assert again is None


def test_a_run_closes_once_and_only_when_no_card_is_pending(database_url: str) -> None:
    """Closing early does nothing; after the last outcome exactly one close wins."""
    with session_scope(database_url) as session:
        card_ids = [factories.card(session).id for _ in range(3)]
    run_id = open_run(database_url)
    assert run_id is not None
    with session_scope(database_url) as session:
        ledger.add_cards(session, run_id, card_ids)
        early = ledger.close_run(session, run_id, deadline=False, thresholds=THRESHOLDS)
    record(database_url, run_id, card_ids[0], OutcomeStatus.SYNCED)
    for card_id in card_ids[1:]:
        record(
            database_url,
            run_id,
            card_id,
            OutcomeStatus.FAILED,
            error_kind="server_error",
            error_message="503",
        )

    with session_scope(database_url) as session:
        report = ledger.close_run(
            session, run_id, deadline=False, thresholds=THRESHOLDS
        )
    with session_scope(database_url) as session:
        again = ledger.close_run(session, run_id, deadline=True, thresholds=THRESHOLDS)

    assert early is None
    assert again is None
    assert report is not None
    assert report["status"] == "complete"
    assert report["cards_total"] == 3
    assert report["cards_synced"] == 1
    assert report["failed_card_ids"] == sorted(card_ids[1:])
    assert report["failure_rate"] == round(2 / 3, 4)
    assert report["errors_by_kind"] == {"server_error": 2}
    assert report["alert"] is True
    assert report["systemic"] is False


def test_the_deadline_fails_every_pending_card_as_lost(database_url: str) -> None:
    """Cards with no outcome at the deadline are reported failed, kind lost."""
    with session_scope(database_url) as session:
        card_ids = [factories.card(session).id for _ in range(12)]
    run_id = open_run(database_url)
    assert run_id is not None
    with session_scope(database_url) as session:
        ledger.add_cards(session, run_id, card_ids)
    record(database_url, run_id, card_ids[0], OutcomeStatus.SYNCED)

    with session_scope(database_url) as session:
        report = ledger.close_run(session, run_id, deadline=True, thresholds=THRESHOLDS)
    with session_scope(database_url) as session:
        status = session.scalar(select(SyncRun.status).where(SyncRun.id == run_id))

    assert report is not None
    assert report["status"] == "deadline"
    assert report["failed_card_ids"] == sorted(card_ids[1:])
    assert report["errors_by_kind"] == {"lost": 11}
    assert report["systemic"] is True
    assert status == "closed"


def test_a_run_with_no_due_card_closes_with_an_empty_report(database_url: str) -> None:
    """Zero cards is a complete run with a zero failure rate."""
    run_id = open_run(database_url)
    assert run_id is not None
    with session_scope(database_url) as session:
        assert ledger.add_due_cards(session, run_id) == 0
        report = ledger.close_run(
            session, run_id, deadline=False, thresholds=THRESHOLDS
        )

    assert report is not None
    assert report["cards_total"] == 0
    assert report["failure_rate"] == 0.0
    assert report["alert"] is False


def test_a_lost_count_still_closes_the_run_as_complete_at_the_deadline(
    database_url: str,
) -> None:
    """Every outcome is in but the counter missed one: the deadline closes the
    run, reporting no card lost."""
    with session_scope(database_url) as session:
        card_id = factories.card(session).id
    run_id = open_run(database_url)
    assert run_id is not None
    with session_scope(database_url) as session:
        ledger.add_cards(session, run_id, [card_id])
        ledger.record_outcome(session, run_id, card_id, OutcomeStatus.SYNCED)

    with session_scope(database_url) as session:
        early = ledger.close_run(session, run_id, deadline=False, thresholds=THRESHOLDS)
        report = ledger.close_run(session, run_id, deadline=True, thresholds=THRESHOLDS)

    assert early is None
    assert report is not None
    assert report["status"] == "complete"
    assert report["cards_synced"] == 1
