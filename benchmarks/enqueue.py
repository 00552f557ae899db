"""The finder's enqueue cost: PostgreSQL into Redis, against bare sends.

No worker runs, so the messages only pile up; the namespace's queues are
emptied between repetitions. Three ways of enqueueing the same number of
messages, interleaved per repetition:

- ``finder``: the pipeline's own path (``find_cards`` calls ``runs.dispatch``):
  one INSERT … SELECT of the due cards into the ledger, pages of pending ids,
  one pipelined ``send_many`` per page, then the deadline message;
- ``send() loop``: ``bare_noop.send()`` once per message, as Dramatiq's docs do;
- ``pipelined bare``: ``send_many`` of empty messages, Redis's floor for us.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from benchmarks import data
from benchmarks.env import World, flush_namespace


@dataclass
class EnqueueTimes:
    cards: int
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, method: str, seconds: float) -> None:
        self.seconds.setdefault(method, []).append(seconds)


def _finder(world: World, cards: int) -> float:
    from pipeline import actors, runs
    from pipeline.settings import get_settings

    settings = get_settings()
    data.reset_ledger(world.database_url)
    run_id = runs.open_run(settings, "manual")
    assert run_id is not None
    started = time.perf_counter()
    total = actors.find_cards.fn(run_id=run_id)
    elapsed = time.perf_counter() - started
    if total != cards:
        raise RuntimeError(f"the finder found {total} due cards, not {cards}")
    return elapsed


def _send_loop(cards: int) -> float:
    from benchmarks import bare

    started = time.perf_counter()
    for _ in range(cards):
        bare.bare_noop.send()
    return time.perf_counter() - started


def _pipelined(cards: int) -> float:
    from benchmarks import bare
    from pipeline.enqueue import send_many

    started = time.perf_counter()
    send_many(bare.broker, (bare.bare_noop.message() for _ in range(cards)))
    return time.perf_counter() - started


def measure(world: World, cards: int, reps: int) -> EnqueueTimes:
    """``reps`` interleaved repetitions of the three ways, ``cards`` each."""
    data.make_due(world.database_url, cards)
    result = EnqueueTimes(cards)
    client = world.redis()
    try:
        for _ in range(reps):
            for method, run in (
                ("finder", lambda: _finder(world, cards)),
                ("send() loop", lambda: _send_loop(cards)),
                ("pipelined bare", lambda: _pipelined(cards)),
            ):
                result.add(method, run())
                flush_namespace(client, world.namespace)
    finally:
        client.close()
        data.reset_ledger(world.database_url)
    return result
