"""Wallet throttles: slots and cool-downs shared through the real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
from dramatiq.rate_limits.backends import RedisBackend

from pipeline.errors import WalletRateLimited
from pipeline.throttle import (
    RedisCoolDown,
    Throttle,
    ThrottledTransport,
    bucket_for,
    is_rate_limited,
    throttle,
)

API = "https://wallet.test/v1"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as connection:
        yield connection


def google_throttle(client: redis.Redis, per_second: float, **limits: int) -> Throttle:
    key = f"wallet-sync-test-{uuid.uuid4().hex[:8]}:rate"
    return throttle(
        "google",
        per_second,
        RedisBackend(client=client),
        RedisCoolDown(client, f"{key}:cool-down"),
        key=key,
        cool_down_ms=limits.get("cool_down_ms", 200),
        max_wait_ms=limits.get("max_wait_ms", 5000),
    )


@pytest.mark.parametrize(
    ("per_second", "expected"),
    [
        (20, (2, 100)),
        (5, (1, 200)),
        (0.5, (1, 2000)),
        (16, (1, 63)),
        (1000, (100, 100)),
    ],
)
def test_a_rate_becomes_small_buckets_that_never_exceed_it(
    per_second: float, expected: tuple[int, int]
) -> None:
    """Slots per bucket times buckets per second stays at or under the rate."""
    slots, bucket_ms = bucket_for(per_second)

    assert (slots, bucket_ms) == expected
    assert slots * 1000 / bucket_ms <= per_second


def test_two_throttles_on_one_key_share_the_rate(client: redis.Redis) -> None:
    """Slots taken through one client are gone for another: 10/s holds for both."""
    first = google_throttle(client, 10)
    assert first.limiter is not None
    second = throttle(
        "google",
        10,
        RedisBackend(client=client),
        first.cool_down,
        key=first.limiter.key,
        cool_down_ms=200,
        max_wait_ms=5000,
    )
    started = time.monotonic()
    deadline = started + 5
    for each in (first, second) * 8:
        assert each.wait_for_slot(deadline)

    # 16 calls at 10 per second need at least 1.5 s (one slot per 100 ms).
    assert time.monotonic() - started >= 1.4


def test_a_429_pauses_the_wallet_and_the_call_is_sent_again(
    client: redis.Redis,
) -> None:
    """The 429 is not what the client sees: the call goes again after the pause."""
    answers = iter([httpx.Response(429), httpx.Response(200, json={})])
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return next(answers)

    throttled = google_throttle(client, 0, cool_down_ms=300)
    transport = ThrottledTransport(httpx.MockTransport(handler), throttled, API)
    with httpx.Client(transport=transport) as http:
        response = http.patch(f"{API}/loyaltyObject/1", json={})

    assert response.status_code == 200
    assert len(sent) == 2
    assert sent[1] - sent[0] >= 0.29


def test_a_wallet_still_throttled_after_the_longest_wait_fails_as_rate_limited(
    client: redis.Redis,
) -> None:
    """Past rate_limit_max_wait_ms the card takes its normal retry."""
    throttled = google_throttle(client, 0, cool_down_ms=5000, max_wait_ms=200)
    throttled.cool_down.extend(5000)
    transport = ThrottledTransport(
        httpx.MockTransport(lambda request: httpx.Response(200)),
        throttled,
        API,
    )
    with httpx.Client(transport=transport) as http, pytest.raises(WalletRateLimited):
        http.get(f"{API}/loyaltyObject/1")


def test_calls_outside_the_api_are_not_throttled(client: redis.Redis) -> None:
    """Google's token endpoint does not spend the wallet API's budget."""
    throttled = google_throttle(client, 0)
    throttled.cool_down.extend(5000)
    transport = ThrottledTransport(
        httpx.MockTransport(lambda request: httpx.Response(200)),
        throttled,
        API,
    )
    with httpx.Client(transport=transport) as http:
        assert http.post("https://wallet.test/token").status_code == 200


def test_google_rate_limit_reasons_count_as_rate_limited() -> None:
    """A 403 with rateLimitExceeded is throttling; with quotaExceeded it is not."""

    def forbidden(reason: str) -> httpx.Response:
        body = {"error": {"code": 403, "errors": [{"reason": reason}]}}
        return httpx.Response(403, json=body)

    assert is_rate_limited(forbidden("rateLimitExceeded"))
    assert is_rate_limited(forbidden("userRateLimitExceeded"))
    assert not is_rate_limited(forbidden("quotaExceeded"))
    assert is_rate_limited(httpx.Response(429))
    assert not is_rate_limited(httpx.Response(503))
