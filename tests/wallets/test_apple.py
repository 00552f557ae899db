"""The APNs client against scripted answers from an httpx transport."""

from __future__ import annotations

import httpx
import pytest

from pipeline import errors
from pipeline.wallets.apple import ApnsClient, PushResult

TOKEN = "ab" * 32
TOPIC = "pass.com.example.loyalty"


def client_answering(
    response: httpx.Response,
) -> tuple[ApnsClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response

    http = httpx.Client(transport=httpx.MockTransport(handle), timeout=5)
    return ApnsClient(http, "https://apns.test"), seen


def test_a_push_is_an_empty_object_for_the_pass_topic() -> None:
    """The body is {} and apns-topic names the pass type."""
    client, seen = client_answering(httpx.Response(200))

    assert client.push(TOKEN, TOPIC) is PushResult.DELIVERED

    (request,) = seen
    assert request.url.path == f"/3/device/{TOKEN}"
    assert request.content == b"{}"
    assert request.headers["apns-topic"] == TOPIC


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(410, json={"reason": "Unregistered", "timestamp": 1}),
        httpx.Response(400, json={"reason": "BadDeviceToken"}),
    ],
)
def test_a_dead_token_is_reported_not_raised(response: httpx.Response) -> None:
    """410 and BadDeviceToken mean: forget the registration, the card is fine."""
    client, _ = client_answering(response)

    assert client.push(TOKEN, TOPIC) is PushResult.TOKEN_DEAD


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(400, json={"reason": "DeviceTokenNotForTopic"}),
            errors.WalletConfigError,
        ),
        (
            httpx.Response(403, json={"reason": "BadCertificate"}),
            errors.WalletConfigError,
        ),
        (
            httpx.Response(429, json={"reason": "TooManyRequests"}),
            errors.WalletRateLimited,
        ),
        (
            httpx.Response(503, json={"reason": "ServiceUnavailable"}),
            errors.WalletServerError,
        ),
        (
            httpx.Response(400, json={"reason": "BadPriority"}),
            errors.WalletRequestRejected,
        ),
        (httpx.Response(500, text="not json"), errors.WalletServerError),
    ],
)
def test_apns_answers_map_to_the_error_tree(
    response: httpx.Response, expected: type[errors.WalletError]
) -> None:
    """Reasons that concern configuration, load and sender bugs differ in class."""
    client, _ = client_answering(response)

    with pytest.raises(expected) as caught:
        client.push(TOKEN, TOPIC)
    assert caught.value.target == TOKEN
