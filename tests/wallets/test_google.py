"""The Google Wallet client against scripted answers from an httpx transport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from pipeline import errors
from pipeline.wallets.google import SCOPE, GoogleObject, GoogleWalletClient

BASE = "https://wallet.test/walletobjects/v1"
OBJECT = GoogleObject(
    object_id="3388.card-1",
    class_id="3388.coffee",
    balance=420,
    points_label="Beans",
    account_id="acct-1",
    account_name="Ada Okafor",
)
Handler = Callable[[httpx.Request], httpx.Response]


def google_error(status: int, reason: str, message: str = "boom") -> httpx.Response:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
    return httpx.Response(status, json=body)


def make_client(
    api: Handler, token: Handler | None = None
) -> tuple[GoogleWalletClient, list[httpx.Request]]:
    """A client whose API and token endpoint answer through the given handlers."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            if token is not None:
                return token(request)
            return httpx.Response(200, json={"access_token": "t0k", "expires_in": 3600})
        seen.append(request)
        return api(request)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    credentials = service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "client_email": "sync@project.iam.gserviceaccount.com",
            "private_key": pem,
            "private_key_id": "k1",
            "token_uri": "https://wallet.test/token",
        },
        scopes=[SCOPE],
    )
    http = httpx.Client(transport=httpx.MockTransport(handle), timeout=5)
    return GoogleWalletClient(http, credentials, BASE), seen


def test_an_existing_object_is_patched_with_the_absolute_balance() -> None:
    """One PATCH carrying the balance as an int, authorised with the token."""
    client, seen = make_client(lambda request: httpx.Response(200, json={"id": "x"}))

    assert client.sync_object(OBJECT) == "patched"

    (request,) = seen
    assert request.method == "PATCH"
    assert request.url.path == "/walletobjects/v1/loyaltyObject/3388.card-1"
    assert request.headers["authorization"] == "Bearer t0k"
    body = json.loads(request.content)
    assert body["loyaltyPoints"] == {"label": "Beans", "balance": {"int": 420}}


def test_a_missing_object_is_inserted_in_full() -> None:
    """404 on PATCH leads to an insert carrying id, class and state."""
    answers = iter([google_error(404, "notFound"), httpx.Response(200, json={})])
    client, seen = make_client(lambda request: next(answers))

    assert client.sync_object(OBJECT) == "inserted"

    assert [r.method for r in seen] == ["PATCH", "POST"]
    body = json.loads(seen[1].content)
    assert body["id"] == "3388.card-1"
    assert body["classId"] == "3388.coffee"
    assert body["state"] == "ACTIVE"


def test_an_insert_that_loses_a_race_patches_again() -> None:
    """409 on the insert means someone created it meanwhile: PATCH it."""
    answers = iter(
        [
            google_error(404, "notFound"),
            google_error(409, "alreadyExists"),
            httpx.Response(200, json={}),
        ]
    )
    client, seen = make_client(lambda request: next(answers))

    assert client.sync_object(OBJECT) == "patched"
    assert [r.method for r in seen] == ["PATCH", "POST", "PATCH"]


def test_a_missing_class_is_a_permanent_error() -> None:
    """404 on the insert itself means the class is missing; nobody should retry."""
    client, _ = make_client(lambda request: google_error(404, "notFound"))

    with pytest.raises(errors.WalletClassMissing) as caught:
        client.sync_object(OBJECT)
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (google_error(503, "backendError"), errors.WalletServerError),
        (google_error(429, "rateLimitExceeded"), errors.WalletRateLimited),
        (google_error(403, "rateLimitExceeded"), errors.WalletRateLimited),
        (google_error(403, "permissionDenied"), errors.WalletConfigError),
        (google_error(400, "invalidResource"), errors.WalletRequestRejected),
        (google_error(403, "quotaExceeded"), errors.WalletRequestRejected),
        (httpx.Response(200, text="<html>proxy</html>"), errors.WalletBadResponse),
        (httpx.Response(502, text="Bad Gateway"), errors.WalletServerError),
    ],
)
def test_answers_map_to_the_error_tree(
    answer: httpx.Response, expected: type[errors.WalletError]
) -> None:
    """Status and reason decide the class, and so whether a retry is worth it."""
    client, _ = make_client(lambda request: answer)

    with pytest.raises(expected) as caught:
        client.sync_object(OBJECT)
    assert caught.value.wallet == "google"
    assert caught.value.target == OBJECT.object_id


def test_a_timeout_is_transient() -> None:
    """A read timeout becomes WalletTimeout, which is retried."""

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    client, _ = make_client(slow)

    with pytest.raises(errors.WalletTimeout) as caught:
        client.sync_object(OBJECT)
    assert caught.value.retryable


def test_a_refused_token_is_refreshed_once_then_the_call_succeeds() -> None:
    """401 gets one fresh token and one more try."""
    answers = iter([google_error(401, "authError"), httpx.Response(200, json={})])
    tokens = iter(["old", "new"])

    def token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"access_token": next(tokens), "expires_in": 3600}
        )

    client, seen = make_client(lambda request: next(answers), token)

    assert client.sync_object(OBJECT) == "patched"
    assert [r.headers["authorization"] for r in seen] == ["Bearer old", "Bearer new"]


def test_a_token_refused_twice_is_a_configuration_error() -> None:
    """Two 401s in a row mean the credentials are wrong, not stale."""
    client, seen = make_client(lambda request: google_error(401, "authError"))

    with pytest.raises(errors.WalletConfigError):
        client.sync_object(OBJECT)
    assert len(seen) == 2


def test_a_revoked_service_account_is_a_configuration_error() -> None:
    """invalid_grant from the token endpoint stops with advice, not a retry."""

    def token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "revoked"}
        )

    client, seen = make_client(lambda request: httpx.Response(200, json={}), token)

    with pytest.raises(errors.WalletConfigError, match="key file"):
        client.sync_object(OBJECT)
    assert seen == []


def test_a_token_endpoint_answering_garbage_is_a_bad_response() -> None:
    """A 200 whose body is not a token is reported as such, and retried."""

    def token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="not json")

    client, seen = make_client(lambda request: httpx.Response(200, json={}), token)

    with pytest.raises(errors.WalletBadResponse, match="not a token") as caught:
        client.sync_object(OBJECT)
    assert caught.value.retryable
    assert seen == []
