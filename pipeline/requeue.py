"""Requeue dead messages: card syncs into a run of their own, the rest as
they were, each removed from the dead letters only once its copy is sent.

The ledger keeps the first outcome of a card in a run, so a card sent back
into the run it died in would be ignored as a duplicate. A requeue therefore
opens a run (trigger ``requeue``) for the cards it sends, with fresh pending
outcomes, a deadline and a report, as ``sync-card`` would; the run a card
died in keeps its recorded failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dramatiq import Actor, Broker, Message
from dramatiq.common import q_name
from sqlalchemy.orm import Session

from pipeline import ledger, runs
from pipeline.db import session_scope
from pipeline.deadletters import CARD_ACTOR, DeadLetter, DeadLetterQueue
from pipeline.errors import CardNotFound, CardNotSyncable
from pipeline.settings import Settings

#: Options of a dead payload that belong to its previous life: the retry
#: count and traceback (so the full retry schedule applies again), the Redis
#: id and delay, and periodiq's ``scheduled_at`` (a late one is skipped).
RESET_OPTIONS = frozenset(
    {"retries", "traceback", "requeue_timestamp", "eta", "redis_message_id"}
    | {"scheduled_at"}
)


@dataclass
class RequeuePlan:
    """What a requeue will send, what it will drop, and what it leaves."""

    cards: list[DeadLetter]
    superseded: dict[int, list[DeadLetter]]
    others: list[DeadLetter]
    skipped: list[tuple[DeadLetter, str]]

    @property
    def empty(self) -> bool:
        return not self.cards and not self.others


def plan_requeue(
    session: Session, entries: Iterable[DeadLetter], known_actors: Iterable[str]
) -> RequeuePlan:
    """Sort entries into card syncs, other messages, and ones that cannot go.

    Several dead letters of one card become one sync of that card (the
    newest); the older ones are removed with it. A message whose actor no
    longer exists, whose payload does not decode, or whose card can no longer
    be synced is skipped and stays in the dead-letter queue.
    """
    known = set(known_actors)
    plan = RequeuePlan([], {}, [], [])
    for entry in sorted(entries, key=lambda e: e.died_at, reverse=True):
        reason = _cannot_requeue(session, entry, known)
        if reason is not None:
            plan.skipped.append((entry, reason))
        elif entry.card_id is None:
            plan.others.append(entry)
        elif entry.card_id in plan.superseded:
            plan.superseded[entry.card_id].append(entry)
        else:
            plan.cards.append(entry)
            plan.superseded[entry.card_id] = []
    return plan


def _cannot_requeue(session: Session, entry: DeadLetter, known: set[str]) -> str | None:
    if entry.message is None:
        return f"the payload cannot be read ({entry.undecodable}); purge it"
    if entry.actor not in known:
        return f"actor {entry.actor!r} no longer exists; purge it"
    if entry.actor != CARD_ACTOR:
        return None
    if entry.card_id is None or entry.run_id is None:
        return "a sync_card message without an integer run_id and card_id; purge it"
    try:
        ledger.check_syncable(session, [entry.card_id])
    except (CardNotFound, CardNotSyncable) as error:
        return f"{error}; purge it"
    return None


def fresh_copy(message: Message[Any], **kwargs: Any) -> Message[Any]:
    """The message as new: same id, retries reset, ``kwargs`` replaced."""
    options = {k: v for k, v in message.options.items() if k not in RESET_OPTIONS}
    return Message(
        queue_name=q_name(message.queue_name),
        actor_name=message.actor_name,
        args=message.args,
        kwargs={**message.kwargs, **kwargs},
        options=options,
        message_id=message.message_id,
        message_timestamp=int(datetime.now(UTC).timestamp() * 1000),
    )


@dataclass(frozen=True)
class Requeued:
    """What a requeue sent: the run its cards went into, and each message."""

    run_id: int | None
    messages: list[dict[str, Any]]
    removed: int


def requeue(
    settings: Settings,
    dlq: DeadLetterQueue,
    plan: RequeuePlan,
    broker: Broker,
    collect_run: Actor[Any, Any],
) -> Requeued:
    """Send the plan's messages again, then take each out of the dead letters.

    Card syncs go into a new run of their own (see the module's docstring).
    Each entry is removed only after its copy is enqueued, so a crash in
    between leaves a duplicate (harmless: syncs are idempotent), never a loss.
    """
    run_id = _open_requeue_run(settings, plan, collect_run) if plan.cards else None
    sent: list[dict[str, Any]] = []
    removed = 0
    for entry in [*plan.cards, *plan.others]:
        assert entry.message is not None
        new_kwargs = {"run_id": run_id} if entry.card_id is not None else {}
        copy = fresh_copy(entry.message, **new_kwargs)
        broker.enqueue(copy)
        gone = [entry, *plan.superseded.get(entry.card_id or 0, [])]
        removed += dlq.remove(gone if entry.card_id is not None else [entry])
        sent.append(
            {
                "message_id": copy.message_id,
                "actor": copy.actor_name,
                "card_id": entry.card_id,
                "run_id": copy.kwargs.get("run_id"),
                "from_run_id": entry.run_id,
            }
        )
    return Requeued(run_id, sent, removed)


def _open_requeue_run(
    settings: Settings, plan: RequeuePlan, collect_run: Actor[Any, Any]
) -> int:
    run_id = runs.open_run(settings, "requeue")
    assert run_id is not None
    card_ids = [entry.card_id for entry in plan.cards if entry.card_id is not None]
    with session_scope(settings.database_url) as session:
        ledger.add_cards(session, run_id, card_ids)
    # Armed before the cards go out: if sending stops halfway, the deadline
    # still closes the run and reports the cards that never went as lost.
    collect_run.send_with_options(
        kwargs={"run_id": run_id, "deadline": True},
        delay=settings.run_deadline_s * 1000,
    )
    return run_id
