"""One pair of emulators for the whole module run; each test starts from a reset.

The emulators run in-process on loopback exactly as the demo runs them; the
tests talk to them over real sockets with the clients the pipeline uses
(httpx, google-auth, google-api-python-client, curl).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import google.auth.exceptions
import google.auth.transport
import httpx
import pytest
from google.oauth2 import service_account

from pipeline.emulators import EmulatorStack
from pipeline.emulators.oauth import WALLET_SCOPE
from pipeline.wallets.google import HttpxRequest

VALID_TOKEN = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorStack]:
    with EmulatorStack.start(tmp_path_factory.mktemp("emulators")) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_emulators(request: pytest.FixtureRequest) -> None:
    """Tests using the stack see no faults, no latency, empty logs and stores."""
    if "stack" in request.fixturenames:
        running: EmulatorStack = request.getfixturevalue("stack")
        running.google_control.reset()
        running.apns_control.reset()


@pytest.fixture
def plain_http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def credentials(stack: EmulatorStack) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_file(
        stack.env["WALLET_SYNC_GOOGLE_CREDENTIALS_FILE"], scopes=[WALLET_SCOPE]
    )


@pytest.fixture
def google(
    stack: EmulatorStack,
    credentials: service_account.Credentials,
    plain_http: httpx.Client,
) -> Iterator[httpx.Client]:
    """An httpx client for the Wallet API with a token obtained through google-auth."""
    credentials.refresh(HttpxRequest(plain_http))
    headers = {"authorization": f"Bearer {credentials.token}"}
    base_url = stack.env["WALLET_SYNC_GOOGLE_API_URL"]
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as client:
        yield client


@pytest.fixture
def issuer(stack: EmulatorStack) -> str:
    return stack.env["WALLET_SYNC_GOOGLE_ISSUER_ID"]


@pytest.fixture
def loyalty_class(google: httpx.Client, issuer: str) -> str:
    """An approved loyalty class the test's objects can belong to."""
    class_id = f"{issuer}.gold"
    body = {
        "id": class_id,
        "issuerName": "Example Coffee",
        "programName": "Beans",
        "reviewStatus": "UNDER_REVIEW",
    }
    response = google.post("/loyaltyClass", json=body)
    assert response.status_code == 200, response.text
    return class_id


@pytest.fixture
def apns(stack: EmulatorStack) -> Iterator[httpx.Client]:
    """An HTTP/2 client presenting the emulator's Pass Type ID certificate."""
    context = stack.client_ssl_context()
    with httpx.Client(
        base_url=stack.apns_url, http2=True, verify=context, timeout=10.0
    ) as client:
        yield client


@pytest.fixture
def topic(stack: EmulatorStack) -> str:
    return stack.env["WALLET_SYNC_APNS_TOPIC"]


def loyalty_object(
    issuer: str, class_id: str, suffix: str, **fields: Any
) -> dict[str, Any]:
    """A minimal valid loyalty object body."""
    return {
        "id": f"{issuer}.{suffix}",
        "classId": class_id,
        "state": "ACTIVE",
        "loyaltyPoints": {"label": "Points", "balance": {"int": 100}},
        **fields,
    }


def google_reason(response: httpx.Response) -> str:
    """The machine-readable reason of a Google error envelope."""
    return str(response.json()["error"]["errors"][0]["reason"])
