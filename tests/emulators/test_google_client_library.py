"""google-api-python-client works against the emulator given only its root URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from pipeline.emulators import EmulatorStack


@pytest.fixture
def wallet(
    stack: EmulatorStack, credentials: service_account.Credentials
) -> Iterator[Any]:
    """The discovery-built Wallet service, pointed at the emulator."""
    with build(
        "walletobjects",
        "v1",
        credentials=credentials,
        static_discovery=True,
        client_options={"api_endpoint": stack.google_url + "/"},
    ) as service:
        yield service


def test_the_official_client_inserts_gets_and_patches(wallet: Any, issuer: str) -> None:
    """Class insert, object insert, get and patch succeed through the client."""
    class_id, object_id = f"{issuer}.lib-class", f"{issuer}.lib-object"
    wallet.loyaltyclass().insert(
        body={"id": class_id, "issuerName": "Lib", "reviewStatus": "UNDER_REVIEW"}
    ).execute()
    wallet.loyaltyobject().insert(
        body={"id": object_id, "classId": class_id, "state": "ACTIVE"}
    ).execute()
    wallet.loyaltyobject().patch(
        resourceId=object_id, body={"loyaltyPoints": {"balance": {"int": 42}}}
    ).execute()
    fetched = wallet.loyaltyobject().get(resourceId=object_id).execute()

    assert fetched["loyaltyPoints"] == {"balance": {"int": 42}}
    assert fetched["classReference"]["id"] == class_id


def test_the_official_client_sees_404_for_a_missing_object(
    wallet: Any, issuer: str
) -> None:
    """HttpError carries status 404 and the emulator's reason for a missing object."""
    with pytest.raises(HttpError) as raised:
        wallet.loyaltyobject().get(resourceId=f"{issuer}.missing").execute()

    assert raised.value.status_code == 404
    assert raised.value.error_details[0]["reason"] == "resourceNotFound"


def test_the_official_client_sees_409_for_a_duplicate_insert(
    wallet: Any, issuer: str, loyalty_class: str
) -> None:
    """HttpError carries status 409 when an object id is inserted twice."""
    body = {"id": f"{issuer}.twice", "classId": loyalty_class, "state": "ACTIVE"}
    wallet.loyaltyobject().insert(body=body).execute()

    with pytest.raises(HttpError) as raised:
        wallet.loyaltyobject().insert(body=body).execute()

    assert raised.value.status_code == 409
