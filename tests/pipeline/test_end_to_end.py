"""Whole runs through Redis, real worker threads, PostgreSQL and the emulators."""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from pipeline import api, ledger
from pipeline.db import session_scope
from pipeline.errors import CardNotFound, CardNotSyncable
from pipeline.models import AppleRegistration, LoyaltyCard, SyncOutcome, SyncRun
from tests import factories
from tests.pipeline.conftest import RETRY_SCHEDULE_MS, Harness


def make_cards(pipeline: Harness, **kinds: int) -> dict[str, list[LoyaltyCard]]:
    """Cards by kind (google, apple, both), each Apple pass on its own device."""
    made: dict[str, list[LoyaltyCard]] = {}
    with session_scope(pipeline.settings.database_url) as session:
        for kind, count in kinds.items():
            for _ in range(count):
                card = factories.card(
                    session, google=kind != "apple", apple=kind != "google"
                )
                if card.apple_serial:
                    factories.device(session, card)
                made.setdefault(kind, []).append(card)
    return made


def token_of(pipeline: Harness, card: LoyaltyCard) -> str:
    from pipeline.models import AppleDevice

    with session_scope(pipeline.settings.database_url) as session:
        return session.scalars(
            select(AppleDevice.push_token)
            .join(AppleRegistration)
            .where(AppleRegistration.serial_number == card.apple_serial)
        ).one()


def outcomes(pipeline: Harness, run_id: int) -> dict[int, SyncOutcome]:
    with session_scope(pipeline.settings.database_url) as session:
        rows = session.scalars(select(SyncOutcome).where(SyncOutcome.run_id == run_id))
        return {row.card_id: row for row in rows}


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The structured log events called ``name`` captured so far."""
    return [
        record.msg
        for record in caplog.records
        if isinstance(record.msg, dict) and record.msg.get("event") == name
    ]


def call_gaps_ms(calls: list[dict[str, Any]]) -> list[float]:
    times = sorted(call["time"] for call in calls)
    return [(later - earlier) * 1000 for earlier, later in itertools.pairwise(times)]


def test_a_run_reports_exactly_the_cards_that_kept_failing(pipeline: Harness) -> None:
    """Permanent and never-clearing transient faults fail; the rest sync."""
    cards = make_cards(pipeline, google=4, apple=4, both=4)
    rejected, flaky_google, recovering = cards["google"][:3]
    flaky_apple, dead = cards["apple"][:2]
    google, apple = pipeline.google, pipeline.apple
    google.add_fault(target=rejected.google_object_id, status=400)
    google.add_fault(target=flaky_google.google_object_id, status=503)
    google.add_fault(target=recovering.google_object_id, status=503, times=2)
    apple.add_fault(target=token_of(pipeline, flaky_apple), status=503)
    apple.add_fault(target=token_of(pipeline, dead), status=410)

    report = pipeline.run()

    failed = sorted([rejected.id, flaky_google.id, flaky_apple.id])
    assert report["failed_card_ids"] == failed
    assert report["cards_total"] == 12
    assert report["cards_synced"] == 9
    assert report["errors_by_kind"] == {"rejected": 1, "server_error": 2}
    assert report["failure_rate"] == 0.25
    assert report["alert"] is True
    attempts = {
        card_id: row.attempts
        for card_id, row in outcomes(pipeline, report["run_id"]).items()
    }
    assert attempts[rejected.id] == 1
    assert attempts[flaky_google.id] == 4
    assert attempts[flaky_apple.id] == 4
    assert attempts[recovering.id] == 3
    assert attempts[dead.id] == 1


def test_transient_failures_are_retried_on_the_schedule(pipeline: Harness) -> None:
    """Four calls, each gap at least the scheduled wait; a 400 gets one call."""
    cards = make_cards(pipeline, google=2)
    flaky, rejected = cards["google"]
    google = pipeline.google
    google.add_fault(target=flaky.google_object_id, status=503)
    google.add_fault(target=rejected.google_object_id, status=400)

    pipeline.run()

    flaky_calls = pipeline.requests("google", flaky.google_object_id)
    assert len(flaky_calls) == 4
    for gap, wait in zip(call_gaps_ms(flaky_calls), RETRY_SCHEDULE_MS, strict=True):
        assert gap >= wait
    assert len(pipeline.requests("google", rejected.google_object_id)) == 1


def test_a_missing_google_object_is_inserted(pipeline: Harness) -> None:
    """PATCH 404, then insert: the emulator holds the object with the balance."""
    (card,) = make_cards(pipeline, google=1)["google"]

    report = pipeline.run()

    assert report["cards_synced"] == 1
    methods = [c["method"] for c in pipeline.requests("google", card.google_object_id)]
    assert methods == ["PATCH", "POST"]
    stored = pipeline.google.stored(card.google_object_id)
    assert stored["loyaltyPoints"]["balance"] == {"int": card.points_balance}


def test_an_insert_that_collides_is_followed_by_a_patch(pipeline: Harness) -> None:
    """A 409 on the insert (someone created it meanwhile) ends in a PATCH."""
    (card,) = make_cards(pipeline, google=1)["google"]
    assert card.google_object_id is not None
    google = pipeline.google
    pipeline.run()  # creates the object
    with session_scope(pipeline.settings.database_url) as session:
        session.execute(
            LoyaltyCard.__table__.update()
            .where(LoyaltyCard.id == card.id)
            .values(version=LoyaltyCard.version + 1, points_balance=777)
        )
    google.clear_requests()
    google.add_fault(target=card.google_object_id, method="PATCH", status=404, times=1)

    report = pipeline.run()

    assert report["cards_synced"] == 1
    methods = [c["method"] for c in pipeline.requests("google", card.google_object_id)]
    assert methods == ["PATCH", "POST", "PATCH"]
    statuses = [c["status"] for c in pipeline.requests("google", card.google_object_id)]
    assert statuses == [404, 409, 200]
    stored = google.stored(card.google_object_id)
    assert stored["loyaltyPoints"]["balance"] == {"int": 777}


def test_a_dead_device_token_is_removed_without_failing_the_card(
    pipeline: Harness,
) -> None:
    """410 deletes the registration; the other device of the pass is still pushed."""
    (card,) = make_cards(pipeline, apple=1)["apple"]
    with session_scope(pipeline.settings.database_url) as session:
        second = factories.device(session, session.merge(card))
    dead = token_of_other(pipeline, card, second)
    pipeline.apple.add_fault(target=dead, status=410)

    report = pipeline.run()

    assert report["cards_failed"] == 0
    with session_scope(pipeline.settings.database_url) as session:
        left = session.scalar(
            select(func.count()).where(
                AppleRegistration.serial_number == card.apple_serial
            )
        )
    assert left == 1
    assert len(pipeline.requests("apple", second)) == 1


def token_of_other(pipeline: Harness, card: LoyaltyCard, token: str) -> str:
    from pipeline.models import AppleDevice

    with session_scope(pipeline.settings.database_url) as session:
        return session.scalars(
            select(AppleDevice.push_token)
            .join(AppleRegistration)
            .where(
                AppleRegistration.serial_number == card.apple_serial,
                AppleDevice.push_token != token,
            )
        ).one()


def test_a_synced_card_is_not_due_again(pipeline: Harness) -> None:
    """The next run finds nothing to do, until the card changes."""
    make_cards(pipeline, both=3)
    pipeline.run()

    again = pipeline.run()

    assert again["cards_total"] == 0


def test_the_apple_update_tag_advances_before_the_push(pipeline: Harness) -> None:
    """Each synced pass holds a newer update tag."""
    (card,) = make_cards(pipeline, apple=1)["apple"]

    pipeline.run()

    with session_scope(pipeline.settings.database_url) as session:
        tag = session.scalar(
            select(LoyaltyCard.apple_update_tag).where(LoyaltyCard.id == card.id)
        )
    assert tag == card.apple_update_tag + 1


def test_a_second_delivery_of_a_card_message_changes_nothing(pipeline: Harness) -> None:
    """Same run, same card, sent again: one outcome, no further wallet calls."""
    from pipeline import actors

    (card,) = make_cards(pipeline, google=1)["google"]
    run_id = api.sync_cards([card.id], pipeline.settings)
    pipeline.wait_idle()
    before = outcomes(pipeline, run_id)[card.id]
    calls = len(pipeline.requests("google", card.google_object_id))

    actors.sync_card.send(run_id=run_id, card_id=card.id)
    pipeline.wait_idle()

    after = outcomes(pipeline, run_id)[card.id]
    assert (after.status, after.attempts) == (before.status, before.attempts)
    assert len(pipeline.requests("google", card.google_object_id)) == calls


def test_a_run_whose_messages_were_lost_is_closed_by_its_deadline(
    pipeline: Harness,
) -> None:
    """No card message ever arrives: the deadline reports every card as lost."""
    from pipeline import actors, runs

    cards = make_cards(pipeline, google=3)["google"]
    run_id = runs.open_run(pipeline.settings, "manual")
    assert run_id is not None
    with session_scope(pipeline.settings.database_url) as session:
        ledger.add_cards(session, run_id, [card.id for card in cards])

    actors.collect_run.send(run_id=run_id, deadline=True)
    report = runs.wait_for_report(pipeline.settings, run_id, timeout_s=30)

    assert report is not None
    assert report["status"] == "deadline"
    assert report["failed_card_ids"] == sorted(card.id for card in cards)
    assert report["errors_by_kind"] == {"lost": 3}


def test_the_hourly_trigger_closes_runs_past_their_deadline(pipeline: Harness) -> None:
    """A run left open past its deadline is closed when the next hour starts."""
    from datetime import timedelta

    from pipeline import actors, runs
    from pipeline.models import utcnow

    (card,) = make_cards(pipeline, google=1)["google"]
    run_id = runs.open_run(pipeline.settings, "manual")
    assert run_id is not None
    with session_scope(pipeline.settings.database_url) as session:
        ledger.add_cards(session, run_id, [card.id])
        session.get_one(SyncRun, run_id).deadline_at = utcnow() - timedelta(minutes=1)

    actors.hourly_sync.send()
    report = runs.wait_for_report(pipeline.settings, run_id, timeout_s=30)

    assert report is not None
    assert report["errors_by_kind"] == {"lost": 1}


def test_two_triggers_for_one_hour_open_one_run(pipeline: Harness) -> None:
    """Two schedulers by mistake: both messages arrive, one run opens."""
    from pipeline import actors
    from pipeline.models import utcnow

    make_cards(pipeline, google=1)
    now = utcnow().isoformat()
    for _ in range(2):
        actors.hourly_sync.send_with_options(scheduled_at=now)
    pipeline.wait_idle()

    with session_scope(pipeline.settings.database_url) as session:
        scheduled = session.scalars(
            select(SyncRun).where(SyncRun.trigger == "scheduled")
        ).all()
    assert len(scheduled) == 1


def test_unknown_or_unsyncable_cards_are_refused_before_enqueueing(
    pipeline: Harness,
) -> None:
    """Bad ids raise naming the card; no run and no message is created."""
    with session_scope(pipeline.settings.database_url) as session:
        bare = factories.card(session, google=False, apple=False).id

    with pytest.raises(CardNotFound, match="card 987654 does not exist"):
        api.sync_cards([987654], pipeline.settings)
    with pytest.raises(CardNotSyncable, match=f"card {bare} has no"):
        api.sync_cards([bare], pipeline.settings)

    with session_scope(pipeline.settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0


def test_broken_credentials_stop_a_wallet_after_a_few_failures(
    pipeline: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Permission denied on every call: a bounded number of calls, one warning."""
    make_cards(pipeline, google=40)
    pipeline.google.add_fault(target="*", status=403)
    caplog.set_level(logging.ERROR)

    report = pipeline.run()

    assert report["cards_failed"] == 40
    kinds = report["errors_by_kind"]
    assert kinds["wallet_disabled"] >= 40 - 3 - 8
    assert set(kinds) == {"credentials", "wallet_disabled"}
    calls = [c for c in pipeline.google.requests() if c["path"] != "/token"]
    assert len(calls) <= 3 + 8
    assert len(events(caplog, "wallet.disabled")) == 1


def test_a_finder_that_cannot_fill_its_run_says_so(
    pipeline: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown run id dead-letters find_cards at once with an error event."""
    from pipeline import actors

    caplog.set_level(logging.ERROR)

    actors.find_cards.send(run_id=424242)
    pipeline.wait_idle()

    # The dead-letter hook runs right after the message leaves the queue.
    deadline = time.monotonic() + 5
    while not (failures := events(caplog, "run.step_failed")):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert len(failures) == 1
    assert "run 424242 does not exist" in failures[0]["error"]


def test_a_card_that_lost_its_wallets_after_enqueueing_fails_as_no_integration(
    pipeline: Harness,
) -> None:
    """Wallets removed while the message waited: failed, not reported synced."""
    from pipeline import actors, runs

    (card,) = make_cards(pipeline, google=1)["google"]
    run_id = runs.open_run(pipeline.settings, "manual")
    assert run_id is not None
    with session_scope(pipeline.settings.database_url) as session:
        ledger.add_cards(session, run_id, [card.id])
        session.execute(
            LoyaltyCard.__table__.update()
            .where(LoyaltyCard.id == card.id)
            .values(google_object_id=None, google_class_id=None)
        )

    actors.sync_card.send(run_id=run_id, card_id=card.id)
    pipeline.wait_idle()

    outcome = outcomes(pipeline, run_id)[card.id]
    assert (outcome.status, outcome.error_kind) == ("failed", "no_integration")
    assert pipeline.requests("google", card.google_object_id) == []


def test_a_malformed_card_message_is_dead_lettered_at_once(
    pipeline: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Ids that are not integers are not retried; the log names the message."""
    from pipeline import actors

    caplog.set_level(logging.WARNING)

    actors.sync_card.send(run_id="x", card_id="ten")
    pipeline.wait_idle()

    deadline = time.monotonic() + 5
    while not (malformed := events(caplog, "card.malformed_message")):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert malformed[0]["kwargs"] == {"run_id": "x", "card_id": "ten"}
    assert events(caplog, "message.retry_scheduled") == []
