"""The dead-letter queues of the pipeline's two queues on Redis.

Dramatiq's Redis broker keeps a queue's dead letters in a sorted set
``<namespace>:<queue>.XQ`` (member: the Redis message id, score: when the
message died, in ms) and their payloads in the hash ``<queue>.XQ.msgs``.
The Redis message id is new on every enqueue, so a message is named here by
Dramatiq's ``message_id``, which stays the same across its retries, and
mapped to Redis ids by reading the payloads.

Only the cards' queue and the control queue under the broker's namespace are
read or changed, one entry at a time (``ZREM``/``HDEL``); nothing here flushes
a queue, which would also drop its waiting and delayed messages.

The payload in the dead-letter queue is the message as it was last
enqueued: its ``retries`` and ``traceback`` are those of the attempt before
the last one, or missing when the first attempt failed for good. The final
error of a card comes from the ledger (``SyncOutcome``) instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from dramatiq import Message
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from pipeline.models import SyncOutcome
from pipeline.settings import Settings

CARD_ACTOR = "sync_card"
#: Shortest message id prefix accepted in place of a whole id.
MIN_PREFIX = 6
_PAGE = 500


def heartbeats_key(namespace: str) -> str:
    """The sorted set in which Dramatiq's Redis broker records its processes."""
    return f"{namespace}:__heartbeats__"


def control_queue(settings: Settings) -> str:
    """The control queue's name, as ``pipeline.actors`` declares it."""
    return f"{settings.queue_name}-control"


def queue_names(settings: Settings) -> tuple[str, str]:
    return settings.queue_name, control_queue(settings)


def redis_client(settings: Settings) -> redis.Redis:
    """A client for the broker's Redis that gives up quickly when it is down."""
    return redis.Redis.from_url(
        settings.broker_url, socket_connect_timeout=3, socket_timeout=10
    )


@dataclass(frozen=True)
class DeadLetter:
    """One dead message: where it lies, when it died, and what it was."""

    queue: str
    redis_id: str
    died_at: datetime
    message: Message[Any] | None
    undecodable: str | None = None

    @property
    def message_id(self) -> str:
        return self.message.message_id if self.message else f"redis:{self.redis_id}"

    @property
    def actor(self) -> str | None:
        return self.message.actor_name if self.message else None

    @property
    def run_id(self) -> int | None:
        return self._int_kwarg("run_id")

    @property
    def card_id(self) -> int | None:
        return self._int_kwarg("card_id") if self.actor == CARD_ACTOR else None

    @property
    def ledger_key(self) -> tuple[int, int] | None:
        """(run, card) of a card sync, where the ledger keeps its outcome."""
        if self.run_id is None or self.card_id is None:
            return None
        return self.run_id, self.card_id

    def _int_kwarg(self, name: str) -> int | None:
        value = self.message.kwargs.get(name) if self.message else None
        return value if isinstance(value, int) else None

    def as_dict(self) -> dict[str, Any]:
        """The entry as the JSON of ``dlq list`` shows it."""
        options = self.message.options if self.message else {}
        return {
            "message_id": self.message_id,
            "redis_message_id": self.redis_id,
            "queue": self.queue,
            "actor": self.actor,
            "args": list(self.message.args) if self.message else None,
            "kwargs": dict(self.message.kwargs) if self.message else None,
            "run_id": self.run_id,
            "card_id": self.card_id,
            "died_at": self.died_at.isoformat(),
            "enqueued_at": _from_ms(self.message.message_timestamp).isoformat()
            if self.message
            else None,
            "payload_retries": options.get("retries", 0),
            "payload_error": self.payload_error(),
            "undecodable": self.undecodable,
        }

    def payload_error(self) -> str | None:
        """The exception line of the traceback Dramatiq stored on the payload.

        It belongs to the attempt before the last one (or is missing), so it is
        shown only where the ledger has nothing better.
        """
        traceback = self.message.options.get("traceback") if self.message else None
        if not isinstance(traceback, str) or not traceback.strip():
            return None
        return exception_line(traceback)


#: The line SQLAlchemy appends to every error's text: a link, not the error.
_BACKGROUND = "(Background on this error at:"
_TRACEBACK_START = "Traceback (most recent call last):"


def clean_error(text: str) -> str:
    """An error's text without SQLAlchemy's link line or blank lines."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(
        line for line in lines if line and not line.startswith(_BACKGROUND)
    )


def first_line(text: str | None) -> str | None:
    """The first meaningful line of an error's text (for tables)."""
    if text is None:
        return None
    cleaned = clean_error(text)
    return cleaned.splitlines()[0] if cleaned else text.strip() or None


def exception_line(traceback: str) -> str:
    """``Type: message`` of the last exception of a formatted traceback.

    The message line comes right after the last frame (frames are indented);
    taking the traceback's last line instead would show a continuation of a
    multi-line message, such as SQLAlchemy's background link.
    """
    lines = traceback.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(_TRACEBACK_START)]
    if starts:
        for line in lines[starts[-1] + 1 :]:
            if line.strip() and not line.startswith(" "):
                return line.rstrip()
    meaningful = [line for line in lines if not line.startswith(_BACKGROUND)]
    return (meaningful or lines)[-1].rstrip()


def _from_ms(milliseconds: float) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def _to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _decode(raw: bytes) -> tuple[Message[Any] | None, str | None]:
    try:
        return Message.decode(raw), None
    except Exception as error:  # a foreign or corrupt payload must not stop a listing
        return None, f"{type(error).__name__}: {error}"


class DeadLetterQueue:
    """The dead letters of the pipeline's queues under one broker namespace."""

    def __init__(
        self, client: redis.Redis, namespace: str, queues: Iterable[str]
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.queues = tuple(queues)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeadLetterQueue:
        return cls(
            redis_client(settings), settings.broker_namespace, queue_names(settings)
        )

    def close(self) -> None:
        """Close the Redis connections."""
        self.client.close()

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _key(self, queue: str, suffix: str = "") -> str:
        return f"{self.namespace}:{queue}{suffix}"

    def entries(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[DeadLetter]:
        """Every dead letter of both queues, newest first."""
        low = _to_ms(since) if since else "-inf"
        high = _to_ms(until) if until else "+inf"
        found = [
            entry for queue in self.queues for entry in self._read(queue, low, high)
        ]
        return sorted(found, key=lambda entry: entry.died_at, reverse=True)

    def _read(
        self, queue: str, low: int | str, high: int | str
    ) -> Iterator[DeadLetter]:
        # redis-py types its replies loosely; these are bytes and floats.
        scored: list[tuple[bytes, float]] = cast(
            Any,
            self.client.zrangebyscore(
                self._key(queue, ".XQ"), low, high, withscores=True
            ),
        )
        for start in range(0, len(scored), _PAGE):
            page = scored[start : start + _PAGE]
            ids = [member for member, _ in page]
            payloads: list[bytes | None] = cast(
                Any, self.client.hmget(self._key(queue, ".XQ.msgs"), ids)
            )
            for (member, score), raw in zip(page, payloads, strict=True):
                yield self._entry(queue, member, score, raw)

    def _entry(
        self, queue: str, member: bytes, score: float, raw: bytes | None
    ) -> DeadLetter:
        message: Message[Any] | None = None
        problem: str | None = "the payload is missing"
        if raw is not None:
            message, problem = _decode(raw)
        return DeadLetter(queue, member.decode(), _from_ms(score), message, problem)

    def find(self, message_id: str) -> list[DeadLetter]:
        """Dead letters of one message, by its whole id or an unambiguous prefix.

        Raises :class:`AmbiguousMessageId` when a prefix names several messages.
        """
        entries = self.entries()
        exact = [entry for entry in entries if entry.message_id == message_id]
        if exact or len(message_id) < MIN_PREFIX:
            return exact
        matches = [e for e in entries if e.message_id.startswith(message_id)]
        names = sorted({entry.message_id for entry in matches})
        if len(names) > 1:
            raise AmbiguousMessageId(message_id, names)
        return matches

    def remove(self, entries: Iterable[DeadLetter]) -> int:
        """Delete these dead letters, and nothing else; returns how many went."""
        with self.client.pipeline(transaction=True) as pipe:
            listed = list(entries)
            for entry in listed:
                pipe.zrem(self._key(entry.queue, ".XQ"), entry.redis_id)
                pipe.hdel(self._key(entry.queue, ".XQ.msgs"), entry.redis_id)
            results = pipe.execute()
        return int(sum(results[0::2]))

    def heartbeats(self) -> dict[str, datetime]:
        """When each broker process last called Redis, by its broker id.

        Dramatiq's Redis broker records every call (a worker's polls several
        times a second, a command's sends) in ``<namespace>:__heartbeats__``.
        """
        scored: list[tuple[bytes, float]] = cast(
            Any,
            self.client.zrange(heartbeats_key(self.namespace), 0, -1, withscores=True),
        )
        return {member.decode(): _from_ms(score) for member, score in scored}

    def depths(self) -> dict[str, dict[str, int]]:
        """Per queue: messages waiting, taken by a worker, delayed, and dead."""
        depths = {}
        for queue in self.queues:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.llen(self._key(queue))
                pipe.hlen(self._key(queue, ".msgs"))
                pipe.hlen(self._key(queue, ".DQ.msgs"))
                pipe.zcard(self._key(queue, ".XQ"))
                waiting, stored, delayed, dead = pipe.execute()
            depths[queue] = {
                "queued": int(waiting),
                "in_flight": max(0, int(stored) - int(waiting)),
                "delayed": int(delayed),
                "dead": int(dead),
            }
        return depths


class AmbiguousMessageId(ValueError):
    """A message id prefix matches more than one dead message."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[:5])
        super().__init__(
            f"message id {prefix!r} matches {len(candidates)} dead messages "
            f"({shown}); give more of it"
        )
        self.candidates = candidates


def select_entries(
    entries: Iterable[DeadLetter],
    *,
    actor: str | None = None,
    card_id: int | None = None,
) -> list[DeadLetter]:
    """The entries of one actor and/or one card."""
    return [
        entry
        for entry in entries
        if (actor is None or entry.actor == actor)
        and (card_id is None or entry.card_id == card_id)
    ]


def final_errors(
    session: Session, entries: Iterable[DeadLetter]
) -> dict[tuple[int, int], dict[str, Any]]:
    """The ledger's outcome of each dead card message, keyed by (run, card)."""
    keys = {entry.ledger_key for entry in entries if entry.ledger_key}
    if not keys:
        return {}
    rows = session.scalars(
        select(SyncOutcome).where(
            tuple_(SyncOutcome.run_id, SyncOutcome.card_id).in_(sorted(keys))
        )
    )
    return {
        (row.run_id, row.card_id): {
            "status": row.status,
            "error_kind": row.error_kind,
            "error_message": row.error_message,
            "attempts": row.attempts,
            "wallet": row.wallet,
            "recorded_at": row.updated_at.isoformat(),
        }
        for row in rows
    }


def describe(entry: DeadLetter, outcome: dict[str, Any] | None) -> dict[str, Any]:
    """An entry with its final error: the ledger's, else the payload's.

    ``error_source`` says which: ``ledger`` (the card's recorded outcome),
    ``payload`` (Dramatiq's stored traceback, possibly of an earlier attempt),
    ``unreadable`` (the payload does not decode; ``error`` says why) or
    ``none``.
    """
    described = entry.as_dict()
    if outcome is not None:
        message = outcome["error_message"]
        described.update(
            outcome=outcome["status"],
            error_kind=outcome["error_kind"],
            error=clean_error(message) if message else message,
            attempts=outcome["attempts"],
            wallet=outcome["wallet"],
            error_source="ledger",
        )
        return described
    payload_error = entry.payload_error()
    described.update(
        outcome=None,
        error_kind=None,
        error=payload_error or entry.undecodable,
        attempts=described["payload_retries"] + 1 if entry.message else None,
        wallet=None,
        error_source="payload"
        if payload_error
        else "unreadable"
        if entry.undecodable
        else "none",
    )
    return described
