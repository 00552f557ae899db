"""One request budget per wallet API, shared by every worker process.

Google Wallet allows an issuer about 20 requests per second, and APNs throttles
a sender that pushes too often; a fleet of workers has to share one budget. So
every call to a wallet API first takes a slot from a Dramatiq rate limiter kept
in the broker's Redis. A miss waits for the next slot inside the call: raising
``RateLimitExceeded`` would reach the retry middleware and spend one of the
card's attempts on a call that was never made.

A 429 (or one of Google's rate-limit reasons) sets a cool-down in Redis that
every process honours before its next call to that wallet, and the call is
sent again once it has passed: the fleet slows down instead of each card
burning its retries. Waiting is bounded by ``rate_limit_max_wait_ms``; past it
the call fails as :class:`~pipeline.errors.WalletRateLimited` (or the 429 goes
back to the client) and the card takes its normal retry.

The wallet clients know none of this: :class:`ThrottledTransport` wraps the
httpx transport that ``pipeline.wiring`` hands them.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import redis
import structlog
from dramatiq.rate_limits import BucketRateLimiter, RateLimiter
from dramatiq.rate_limits.backend import RateLimiterBackend

from pipeline.errors import WalletRateLimited
from pipeline.wallets.google import RATE_LIMIT_REASONS

log = structlog.get_logger(__name__)


class CoolDown(Protocol):
    """A pause every process honours before calling one wallet."""

    def remaining_ms(self) -> int: ...

    def extend(self, milliseconds: int) -> None: ...


@dataclass
class RedisCoolDown:
    """The pause as a Redis key whose time to live is what is left of it.

    A clear answer is trusted for ``recheck_ms``: asking Redis before every
    call cost a round trip per call while no pause was ever set, and a pause
    another process starts is noticed that much later at most.
    """

    client: redis.Redis
    key: str
    recheck_ms: int = 100
    _clear_until: float = 0.0

    def remaining_ms(self) -> int:
        if time.monotonic() < self._clear_until:
            return 0
        remaining = max(0, int(self.client.pttl(self.key)))
        if remaining == 0:
            self._clear_until = time.monotonic() + self.recheck_ms / 1000
        return remaining

    def extend(self, milliseconds: int) -> None:
        self._clear_until = 0.0
        # Never shorten a pause another process set: NX creates it, GT only
        # lengthens it.
        if not self.client.set(self.key, 1, px=milliseconds, nx=True):
            self.client.pexpire(self.key, milliseconds, gt=True)


@dataclass
class MemoryCoolDown:
    """The pause of one process, for the in-process demo without Redis."""

    _until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remaining_ms(self) -> int:
        return max(0, math.ceil((self._until - time.monotonic()) * 1000))

    def extend(self, milliseconds: int) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + milliseconds / 1000)


def bucket_for(per_second: float) -> tuple[int, int]:
    """(slots, bucket in ms) giving at most ``per_second`` calls per second.

    Small buckets keep bursts small: a sliding second holds at most
    ``per_second + slots`` calls, where one-second buckets would allow twice
    the rate across a bucket edge.
    """
    slots = max(1, math.floor(per_second / 10))
    return slots, max(1, math.ceil(1000 * slots / per_second))


@dataclass
class Throttle:
    """Slots and cool-downs of one wallet API."""

    wallet: str
    cool_down: CoolDown
    limiter: RateLimiter | None = None
    bucket_ms: int = 1000
    cool_down_ms: int = 5000
    max_wait_ms: int = 60_000

    def wait_for_slot(self, deadline: float) -> bool:
        """Block until a call may go out; False when ``deadline`` comes first."""
        while True:
            pause_ms = self.cool_down.remaining_ms()
            if pause_ms == 0:
                if self.limiter is None:
                    return True
                with self.limiter.acquire(raise_on_failure=False) as acquired:
                    if acquired:
                        return True
                pause_ms = self._until_next_bucket_ms()
            if time.monotonic() + pause_ms / 1000 > deadline:
                return False
            time.sleep(pause_ms / 1000)

    def slow_down(self, response: httpx.Response) -> int:
        """Start (or lengthen) the fleet's cool-down after a rate-limit answer."""
        pause_ms = _retry_after_ms(response) or self.cool_down_ms
        self.cool_down.extend(pause_ms)
        log.warning(
            "wallet.rate_limited",
            wallet=self.wallet,
            status=response.status_code,
            cool_down_ms=pause_ms,
        )
        return pause_ms

    def _until_next_bucket_ms(self) -> int:
        now_ms = time.time() * 1000
        # A little jitter so waiting threads do not all wake on the same tick.
        return math.ceil(
            self.bucket_ms - now_ms % self.bucket_ms + random.uniform(0, 5)
        )


def throttle(
    wallet: str,
    per_second: float,
    backend: RateLimiterBackend,
    cool_down: CoolDown,
    *,
    key: str,
    cool_down_ms: int,
    max_wait_ms: int,
) -> Throttle:
    """A wallet's throttle; ``per_second`` 0 keeps only the cool-down."""
    if per_second <= 0:
        return Throttle(wallet, cool_down, None, 1000, cool_down_ms, max_wait_ms)
    slots, bucket_ms = bucket_for(per_second)
    limiter = BucketRateLimiter(  # type: ignore[no-untyped-call]
        backend, key, limit=slots, bucket=bucket_ms
    )
    return Throttle(wallet, cool_down, limiter, bucket_ms, cool_down_ms, max_wait_ms)


class ThrottledTransport(httpx.BaseTransport):
    """An httpx transport that takes a slot before each call to ``api_url``.

    Calls elsewhere (Google's token endpoint) pass straight through.
    """

    def __init__(
        self, inner: httpx.BaseTransport, throttle: Throttle, api_url: str
    ) -> None:
        self._inner = inner
        self._throttle = throttle
        self._api_url = api_url.rstrip("/")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not str(request.url).startswith(self._api_url):
            return self._inner.handle_request(request)
        deadline = time.monotonic() + self._throttle.max_wait_ms / 1000
        while True:
            if not self._throttle.wait_for_slot(deadline):
                raise WalletRateLimited(
                    f"no request slot within {self._throttle.max_wait_ms} ms; "
                    "the fleet is at its configured rate or cooling down",
                    wallet=self._throttle.wallet,
                )
            response = self._inner.handle_request(request)
            if not is_rate_limited(response):
                return response
            self._throttle.slow_down(response)
            if time.monotonic() >= deadline:
                return response
            response.close()

    def close(self) -> None:
        self._inner.close()


def is_rate_limited(response: httpx.Response) -> bool:
    """A 429, or a 403 whose reason is one of Google's rate-limit reasons."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    response.read()
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    reasons = error.get("errors", []) if isinstance(error, dict) else []
    return any(
        isinstance(item, dict) and item.get("reason") in RATE_LIMIT_REASONS
        for item in reasons
    )


def _retry_after_ms(response: httpx.Response) -> int | None:
    value = response.headers.get("retry-after", "")
    return int(value) * 1000 if value.strip().isdigit() else None
