"""Starting runs and handing their cards to the workers.

The finder, an operator's ``wallet-sync run`` and a single-card sync all go
through :func:`dispatch`: the run's pending outcomes are written first, then
one ``sync_card`` message per pending card is sent page by page, then the
run's deadline is scheduled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from dramatiq import Actor, Broker
from sqlalchemy import delete, select

from pipeline import ledger
from pipeline.db import get_engine, session_scope
from pipeline.enqueue import send_many
from pipeline.models import utcnow
from pipeline.settings import Settings

log = structlog.get_logger(__name__)

#: Runs at least this large refresh the outcome table's statistics before
#: paging through it (see ``ledger.refresh_statistics``).
ANALYZE_AFTER = 10_000


def hour_of(scheduled_at: str | None) -> datetime:
    """The UTC hour a periodic trigger stands for (now, when sent by hand)."""
    moment = datetime.fromisoformat(scheduled_at) if scheduled_at else utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def open_run(
    settings: Settings, trigger: str, scheduled_for: datetime | None = None
) -> int | None:
    with session_scope(settings.database_url) as session:
        return ledger.open_run(
            session,
            trigger,
            deadline=timedelta(seconds=settings.run_deadline_s),
            scheduled_for=scheduled_for,
        )


def discard_empty_run(settings: Settings, run_id: int) -> None:
    """Delete a run that never got a card, as if it had not been opened."""
    from pipeline.models import SyncOutcome, SyncRun

    with session_scope(settings.database_url) as session:
        has_cards = session.scalar(
            select(SyncOutcome.card_id).where(SyncOutcome.run_id == run_id).limit(1)
        )
        if has_cards is None:
            session.execute(delete(SyncRun).where(SyncRun.id == run_id))


def dispatch(
    settings: Settings,
    broker: Broker,
    run_id: int,
    sync_card: Actor[Any, Any],
    collect_run: Actor[Any, Any],
    add_cards: Callable[[Any], int],
) -> int:
    """Give the run its cards with ``add_cards``, send them, arm the deadline."""
    with session_scope(settings.database_url) as session:
        total = add_cards(session)
    if total >= ANALYZE_AFTER:
        ledger.refresh_statistics(get_engine(settings.database_url))
    sent = 0
    after = 0
    while True:
        with session_scope(settings.database_url) as session:
            page = ledger.card_ids_page(
                session, run_id, after=after, limit=settings.finder_page_size
            )
        if not page:
            break
        sent += send_many(
            broker,
            (
                sync_card.message_with_options(
                    kwargs={"run_id": run_id, "card_id": card_id}
                )
                for card_id in page
            ),
        )
        after = page[-1]
    collect_run.send_with_options(
        kwargs={"run_id": run_id, "deadline": True},
        delay=settings.run_deadline_s * 1000,
    )
    if total == 0:
        collect_run.send(run_id=run_id)
    log.info("run.dispatched", run_id=run_id, cards=total, sent=sent)
    return total


def wait_for_report(
    settings: Settings, run_id: int, *, timeout_s: float, poll_s: float = 0.2
) -> dict[str, Any] | None:
    """The run's report once it closes; None if it is still open at the timeout."""
    from pipeline.models import SyncRun

    deadline = time.monotonic() + timeout_s
    while True:
        with session_scope(settings.database_url) as session:
            report = session.scalar(select(SyncRun.report).where(SyncRun.id == run_id))
        if report is not None or time.monotonic() >= deadline:
            return report
        time.sleep(poll_s)
