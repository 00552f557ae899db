"""The pipeline's actors: finder, card sync and collector.

Importing this module declares them on the current broker, so set the broker
up first (``pipeline.broker.setup``); ``workers`` does that for the worker and
scheduler processes. Actors stay thin: they load, call the sync and the ledger,
and leave retries to the retry middleware.
"""

from __future__ import annotations

from functools import partial

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.middleware import CurrentMessage
from periodiq import cron

from pipeline import broker as broker_setup
from pipeline import ledger, metrics, runs, wiring
from pipeline.db import get_engine, session_scope
from pipeline.errors import (
    CardNotFound,
    CardNotSyncable,
    MessageMalformed,
    PermanentWalletError,
    RunNotFound,
    WalletError,
    WalletSyncError,
)
from pipeline.models import OutcomeStatus, utcnow
from pipeline.settings import get_settings
from pipeline.sync import CardSync
from pipeline.wiring import Clients

log = structlog.get_logger(__name__)

settings = get_settings()
broker = broker_setup.current()
card_sync = CardSync(
    settings,
    Clients(settings, wiring.throttles(settings, getattr(broker, "client", None))),
)
thresholds = ledger.Thresholds(settings.alert_failure_rate, settings.alert_failed_cards)

CARDS_QUEUE = settings.queue_name
#: Runs are opened and closed on their own queue, so a trigger or a close
#: never waits behind thousands of card messages.
CONTROL_QUEUE = f"{settings.queue_name}-control"


def _card_died(message: MessageProxy, exception: BaseException | None) -> None:
    """Record the final failure of a card whose message reached the dead letters."""
    run_id, card_id = message.kwargs.get("run_id"), message.kwargs.get("card_id")
    if not isinstance(run_id, int) or not isinstance(card_id, int):
        log.error("card.malformed_message", kwargs=message.kwargs, args=message.args)
        return
    kind = exception.kind if isinstance(exception, WalletSyncError) else "unexpected"
    if exception is None:
        kind = "dead_lettered"
    with session_scope(settings.database_url) as session:
        recorded = ledger.record_outcome(
            session,
            run_id,
            card_id,
            OutcomeStatus.FAILED,
            error_kind=kind,
            error_message=str(exception) if exception else "message dead-lettered",
            wallet=exception.wallet if isinstance(exception, WalletError) else None,
        )
    if not recorded:
        return
    metrics.card_failed(getattr(exception, "wallet", None), kind)
    log.warning(
        "card.failed",
        run_id=run_id,
        card_id=card_id,
        error_kind=kind,
        error=str(exception),
    )
    if ledger.count_down(get_engine(settings.database_url), run_id) == 0:
        collect_run.send(run_id=run_id)


@dramatiq.actor(
    queue_name=CARDS_QUEUE,
    throws=(PermanentWalletError, CardNotFound, CardNotSyncable, MessageMalformed),
    on_dead_letter=_card_died,
    time_limit=5 * 60 * 1000,
)
def sync_card(run_id: int, card_id: int) -> None:
    """Write one card's current state to its wallets, as part of one run."""
    if not (isinstance(run_id, int) and isinstance(card_id, int)):
        raise MessageMalformed(
            f"sync_card takes integer run_id and card_id, got {run_id!r} and "
            f"{card_id!r}; purge this message with `wallet-sync dlq purge`"
        )
    started = utcnow()
    metrics.card_attempted()
    result = card_sync.run(run_id, card_id)
    if result.status == "failed":
        metrics.card_failed(None, ledger.CRASHED)  # logged as card.failed
    elif result.status == "synced":
        metrics.card_synced(result.wallets)
        log.info(
            "card.finished",
            outcome=result.status,
            attempts=result.attempts,
            duration_ms=round((utcnow() - started).total_seconds() * 1000, 1),
        )
    if result.cards_pending == 0:
        collect_run.send(run_id=run_id)


def _run_step_died(message: MessageProxy, exception: BaseException | None) -> None:
    """A run could not be opened or filled: say so loudly, with what happens next."""
    log.error(
        "run.step_failed",
        actor=message.actor_name,
        message_kwargs=message.kwargs,
        error=str(exception),
        effect="the cards stay due: the next hourly run picks them up, and a run "
        "left open is closed at its deadline with its cards reported lost",
    )


@dramatiq.actor(
    queue_name=CONTROL_QUEUE, throws=(RunNotFound,), on_dead_letter=_run_step_died
)
def find_cards(run_id: int) -> int:
    """Give an opened run every due card and send one sync_card per card;
    returns how many."""
    return runs.dispatch(
        settings,
        broker,
        run_id,
        sync_card,
        collect_run,
        partial(ledger.add_due_cards, run_id=run_id),
    )


@dramatiq.actor(
    queue_name=CONTROL_QUEUE,
    periodic=cron("0 * * * *"),
    # periodiq drops a retry that comes later than its skip delay, so a failed
    # trigger is dead-lettered at once and logged instead of retried silently.
    max_retries=0,
    on_dead_letter=_run_step_died,
)
def hourly_sync() -> None:
    """Open this hour's run, once however often the trigger arrives."""
    message = CurrentMessage.get_current_message()
    scheduled_at = message.options.get("scheduled_at") if message else None
    hour = runs.hour_of(scheduled_at)
    _close_overdue_runs()
    run_id = runs.open_run(settings, "scheduled", scheduled_for=hour)
    if run_id is None:
        log.info("run.duplicate_trigger", scheduled_for=hour.isoformat())
        return
    log.info("run.opened", run_id=run_id, scheduled_for=hour.isoformat())
    find_cards.send(run_id=run_id)


def _close_overdue_runs() -> None:
    with session_scope(settings.database_url) as session:
        overdue = ledger.stale_open_runs(session, utcnow())
    for run_id in overdue:
        collect_run.send(run_id=run_id, deadline=True)


@dramatiq.actor(queue_name=CONTROL_QUEUE)
def collect_run(run_id: int, deadline: bool = False) -> None:
    """Close the run if it is complete (or overdue) and log its report once."""
    with session_scope(settings.database_url) as session:
        report = ledger.close_run(
            session, run_id, deadline=deadline, thresholds=thresholds
        )
    if report is None:
        return
    metrics.run_closed(report)
    log.info("run.finished", **report)
    if report["alert"] or report["systemic"]:
        log.warning(
            "run.alert",
            run_id=run_id,
            failure_rate=report["failure_rate"],
            cards_failed=report["cards_failed"],
            systemic=report["systemic"],
        )
