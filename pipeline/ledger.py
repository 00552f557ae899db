"""The run ledger: runs, one outcome row per card, and the report.

The database is the ledger. The finder writes one ``pending`` outcome per card
before it sends any message; the first outcome recorded for a card wins (a
conditional UPDATE), so duplicate deliveries change nothing; the run's
``cards_pending`` counter reaches zero exactly once, and closing is a
conditional UPDATE too, so a run is closed and reported exactly once whoever
gets there first: the last card or the deadline.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.errors import CardNotFound, CardNotSyncable, RunNotFound
from pipeline.models import (
    CARD_IS_DUE,
    LoyaltyCard,
    OutcomeStatus,
    RunStatus,
    SyncOutcome,
    SyncRun,
    utcnow,
)

LOST = "lost"
CRASHED = "crashed"


@dataclass(frozen=True)
class Thresholds:
    """When a closed run raises an alert or is called systemic."""

    failure_rate: float = 0.05
    failed_cards: int = 10


def open_run(
    session: Session,
    trigger: str,
    *,
    deadline: timedelta,
    scheduled_for: datetime | None = None,
) -> int | None:
    """Open a run; None when a run for ``scheduled_for`` exists already."""
    now = utcnow()
    run = SyncRun(
        trigger=trigger,
        scheduled_for=scheduled_for,
        opened_at=now,
        deadline_at=now + deadline,
        missed_hours=_missed_hours(session, scheduled_for),
    )
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        return None
    return run.id


def _missed_hours(session: Session, scheduled_for: datetime | None) -> int:
    """Scheduled hours between the previous scheduled run and this one."""
    if scheduled_for is None:
        return 0
    previous = session.scalar(
        select(func.max(SyncRun.scheduled_for)).where(
            SyncRun.scheduled_for < scheduled_for
        )
    )
    if previous is None:
        return 0
    return max(0, int((scheduled_for - previous) / timedelta(hours=1)) - 1)


def add_due_cards(session: Session, run_id: int) -> int:
    """Give the run a pending outcome for every due card; returns how many.

    One INSERT … SELECT over the partial index of due cards: the cards never
    pass through Python, so memory stays flat however many there are.
    """
    run = _run_for_update(session, run_id)
    if run.status != RunStatus.FINDING:
        return run.cards_total
    due = select(
        literal(run_id, Integer), LoyaltyCard.id, literal(OutcomeStatus.PENDING)
    ).where(CARD_IS_DUE)
    session.execute(
        insert(SyncOutcome).from_select(["run_id", "card_id", "status"], due)
    )
    return _seal(session, run)


def add_cards(session: Session, run_id: int, card_ids: list[int]) -> int:
    """Give the run a pending outcome for each named card, checking each exists."""
    run = _run_for_update(session, run_id)
    check_syncable(session, card_ids)
    session.execute(
        insert(SyncOutcome),
        [{"run_id": run_id, "card_id": card_id} for card_id in sorted(set(card_ids))],
    )
    return _seal(session, run)


def check_syncable(session: Session, card_ids: list[int]) -> None:
    """Raise for the first card id that is unknown or has no wallet at all."""
    # An id outside the column's range names no card; asking the database
    # about it would only fail with an overflow.
    storable = [card_id for card_id in card_ids if 0 < card_id < 2**63]
    rows = session.execute(
        select(
            LoyaltyCard.id, LoyaltyCard.google_object_id, LoyaltyCard.apple_serial
        ).where(LoyaltyCard.id.in_(storable))
    ).all()
    found = {row.id: row for row in rows}
    for card_id in card_ids:
        row = found.get(card_id)
        if row is None:
            raise CardNotFound(card_id)
        if row.google_object_id is None and row.apple_serial is None:
            raise CardNotSyncable(card_id)


def _seal(session: Session, run: SyncRun) -> int:
    total = (
        session.scalar(select(func.count()).where(SyncOutcome.run_id == run.id)) or 0
    )
    run.cards_total = run.cards_pending = total
    run.status = RunStatus.OPEN
    session.flush()
    return total


def _run_for_update(session: Session, run_id: int) -> SyncRun:
    run = session.scalar(select(SyncRun).where(SyncRun.id == run_id).with_for_update())
    if run is None:
        raise RunNotFound(run_id)
    return run


def refresh_statistics(engine: Engine) -> None:
    """Refresh PostgreSQL's statistics of the outcome table.

    Right after a large run's rows are inserted the planner still believes the
    run is small, and pages through it with a bitmap scan and a sort of every
    row of the run instead of walking the primary key: 140 ms per page at a
    million cards. ANALYZE samples a fixed number of rows, so it costs about
    the same at any size. Other databases plan this query well as they are.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection.execute(text("ANALYZE sync_outcomes"))
        connection.commit()


def card_ids_page(
    session: Session, run_id: int, *, after: int, limit: int
) -> list[int]:
    """One page of the run's cards, in id order, after ``after``.

    A range of the primary key, whatever the outcomes: sending a card that
    already has one is harmless, and a filter on status made the planner
    sort every pending row of a fresh run for each page.
    """
    rows = session.scalars(
        select(SyncOutcome.card_id)
        .where(SyncOutcome.run_id == run_id, SyncOutcome.card_id > after)
        .order_by(SyncOutcome.card_id)
        .limit(limit)
    )
    return list(rows)


# The per-card statements are built once, with bound parameters: building a
# statement and its cache key on every call, and evaluating its WHERE clause
# against the session (which holds no loaded rows here), was a visible share
# of a worker's CPU per card.
_THIS_PENDING_CARD = and_(
    SyncOutcome.run_id == bindparam("the_run"),
    SyncOutcome.card_id == bindparam("the_card"),
    SyncOutcome.status == OutcomeStatus.PENDING,
)
_BEGIN_ATTEMPT = (
    update(SyncOutcome)
    .where(_THIS_PENDING_CARD)
    .values(attempts=SyncOutcome.attempts + 1, updated_at=bindparam("now"))
    .returning(SyncOutcome.attempts)
    .execution_options(synchronize_session=False)
)
_RECORD_OUTCOME = (
    update(SyncOutcome)
    .where(_THIS_PENDING_CARD)
    .values(
        status=bindparam("new_status"),
        error_kind=bindparam("new_error_kind"),
        error_message=bindparam("new_error_message"),
        wallet=bindparam("new_wallet"),
        updated_at=bindparam("now"),
    )
    .execution_options(synchronize_session=False)
)
_COUNT_DOWN = (
    update(SyncRun)
    .where(SyncRun.id == bindparam("the_run"))
    .values(cards_pending=SyncRun.cards_pending - 1)
    .returning(SyncRun.cards_pending)
    .execution_options(synchronize_session=False)
)


def begin_attempt(
    session: Session | Connection, run_id: int, card_id: int
) -> int | None:
    """Count one more attempt at the card; None when it already has an outcome."""
    return session.scalar(
        _BEGIN_ATTEMPT, {"the_run": run_id, "the_card": card_id, "now": utcnow()}
    )


def record_outcome(
    session: Session | Connection,
    run_id: int,
    card_id: int,
    status: OutcomeStatus,
    *,
    error_kind: str | None = None,
    error_message: str | None = None,
    wallet: str | None = None,
) -> bool:
    """Record the card's one outcome; False when it had one already (a
    duplicate delivery). Once the transaction commits, call
    :func:`count_down` for a recorded outcome."""
    recorded = session.execute(
        _RECORD_OUTCOME,
        {
            "the_run": run_id,
            "the_card": card_id,
            "new_status": status,
            "new_error_kind": error_kind,
            "new_error_message": error_message,
            "new_wallet": wallet,
            "now": utcnow(),
        },
    )
    return bool(recorded.rowcount == 1)  # type: ignore[attr-defined]


def count_down(engine: Engine, run_id: int) -> int | None:
    """One card fewer pending in the run; returns how many remain.

    A statement of its own, committed by the server as it runs: every card of
    a run updates this one row, and holding its lock until a worker thread's
    own commit (after waiting for the GIL) queued the whole fleet behind it.
    If this is lost after the outcome committed, the run still closes, at its
    deadline, with every outcome in place.
    """
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        pending = connection.scalar(_COUNT_DOWN, {"the_run": run_id})
        connection.commit()
    return pending


def close_run(
    session: Session, run_id: int, *, deadline: bool, thresholds: Thresholds
) -> dict[str, Any] | None:
    """Close the run and store its report; None unless this call closed it.

    Without ``deadline`` it closes only a run with no pending card. With it,
    every card still pending is failed as ``lost`` first; the report says
    ``deadline`` only when some card was.
    """
    lost = 0
    if deadline:
        lost = session.execute(
            update(SyncOutcome)
            .where(
                SyncOutcome.run_id == run_id,
                SyncOutcome.status == OutcomeStatus.PENDING,
            )
            .values(
                status=OutcomeStatus.FAILED,
                error_kind=LOST,
                error_message="no outcome arrived before the run's deadline",
                updated_at=utcnow(),
            )
        ).rowcount  # type: ignore[attr-defined]
    condition = SyncRun.status == RunStatus.OPEN
    if deadline:
        condition = SyncRun.status.in_([RunStatus.OPEN, RunStatus.FINDING])
    else:
        condition = and_(condition, SyncRun.cards_pending <= 0)
    finished_at = utcnow()
    closed = session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id, condition)
        .values(status=RunStatus.CLOSED, finished_at=finished_at, cards_pending=0)
    )
    if closed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    run = session.get_one(SyncRun, run_id)
    session.refresh(run)
    run.report = build_report(session, run, thresholds, by_deadline=lost > 0)
    return run.report


def build_report(
    session: Session, run: SyncRun, thresholds: Thresholds, *, by_deadline: bool
) -> dict[str, Any]:
    """The run's report, from its outcome rows."""
    rows = session.execute(
        select(SyncOutcome.card_id, SyncOutcome.status, SyncOutcome.error_kind).where(
            SyncOutcome.run_id == run.id
        )
    ).all()
    failed = sorted(r.card_id for r in rows if r.status == OutcomeStatus.FAILED)
    synced = sum(1 for r in rows if r.status == OutcomeStatus.SYNCED)
    kinds = Counter(r.error_kind for r in rows if r.status == OutcomeStatus.FAILED)
    total = len(rows)
    rate = round(len(failed) / total, 4) if total else 0.0
    finished = run.finished_at or utcnow()
    return {
        "run_id": run.id,
        "status": "deadline" if by_deadline else "complete",
        "trigger": run.trigger,
        "scheduled_for": _iso(run.scheduled_for),
        "missed_hours": run.missed_hours,
        "started_at": _iso(run.opened_at),
        "finished_at": _iso(finished),
        "duration_s": round((finished - run.opened_at).total_seconds(), 3),
        "cards_total": total,
        "cards_synced": synced,
        "cards_failed": len(failed),
        "failed_card_ids": failed,
        "failure_rate": rate,
        "errors_by_kind": dict(sorted((str(k), n) for k, n in kinds.items())),
        "alert": rate > thresholds.failure_rate,
        "systemic": len(failed) > thresholds.failed_cards,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def stale_open_runs(session: Session, now: datetime) -> list[int]:
    """Runs still open past their deadline."""
    return list(
        session.scalars(
            select(SyncRun.id).where(
                SyncRun.status.in_([RunStatus.OPEN, RunStatus.FINDING]),
                SyncRun.deadline_at < now,
            )
        )
    )
