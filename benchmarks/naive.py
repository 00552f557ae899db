"""The naive baseline: the by-hand loop the pipeline replaces.

One process takes the cards one after another and calls the wallet with the
pipeline's own Google client (so the HTTP calls are the same); a transient
error is retried after *sleeping* 1 s, 4 s, 16 s, then the card is given up.
It runs on a small number of cards and is extrapolated linearly to 1,000;
the closed-form expectation for the measured call time is given next to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks import data
from benchmarks.cards import object_id, patch_body
from benchmarks.drain import Fault
from benchmarks.env import World

if TYPE_CHECKING:
    from pipeline.wallets.google import GoogleObject

SCHEDULE_S = (1.0, 4.0, 16.0)


@dataclass
class NaiveResult:
    cards: int
    wall_s: float
    calls: int
    failed_calls: int
    slept_s: float
    failed_cards: int

    @property
    def call_s(self) -> float:
        """Mean time of one call, from the wall time less the sleeps."""
        return (self.wall_s - self.slept_s) / self.calls

    def extrapolated_s(self, cards: int) -> float:
        return self.wall_s * cards / self.cards

    def model_s(self, cards: int, rate: float) -> float:
        """Expected time for ``cards`` cards: calls plus the sleeps they cause."""
        calls = sum(rate**k for k in range(len(SCHEDULE_S) + 1))
        sleeps = sum(rate ** (k + 1) * wait for k, wait in enumerate(SCHEDULE_S))
        return cards * (self.call_s * calls + sleeps)


def measure(world: World, cards: int, latency_ms: float, fault: Fault) -> NaiveResult:
    """Sync ``cards`` due cards the naive way against the same faulty emulator."""
    from pipeline.errors import WalletError
    from pipeline.settings import get_settings
    from pipeline.wiring import google_client

    control = world.google_control()
    control.clear_faults()
    control.set_latency(latency_ms)
    control.add_fault(
        "*", fault.status, rate=fault.rate, seed=fault.seed, method="PATCH"
    )
    control.clear_requests()
    from pipeline.wallets.google import GoogleObject

    client = google_client(get_settings())
    issuer = world.emulator_env["WALLET_SYNC_GOOGLE_ISSUER_ID"]
    result = NaiveResult(cards, 0.0, 0, 0, 0.0, 0)
    started = time.perf_counter()
    try:
        for card_id in range(1, cards + 1):
            obj = _object(GoogleObject, issuer, card_id)
            for attempt in range(len(SCHEDULE_S) + 1):
                result.calls += 1
                try:
                    client.sync_object(obj)
                    break
                except WalletError as error:
                    result.failed_calls += 1
                    if not error.retryable or attempt == len(SCHEDULE_S):
                        result.failed_cards += 1
                        break
                    time.sleep(SCHEDULE_S[attempt])
                    result.slept_s += SCHEDULE_S[attempt]
    finally:
        result.wall_s = time.perf_counter() - started
        client.close()
        control.clear_faults()
        control.set_latency(0)
    return result


def _object(cls: type[GoogleObject], issuer: str, card_id: int) -> GoogleObject:
    body = patch_body(card_id)
    return cls(
        object_id=object_id(issuer, card_id),
        class_id=data.class_id(issuer),
        balance=card_id % 5000,
        points_label="Points",
        account_id=str(body["accountId"]),
        account_name=str(body["accountName"]),
    )
