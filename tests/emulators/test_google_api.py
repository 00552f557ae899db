"""The Google Wallet emulator over HTTP: tokens, objects, classes and errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import google.auth.exceptions
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from google.oauth2 import service_account

from pipeline.emulators import EmulatorStack
from pipeline.emulators.oauth import JWT_BEARER_GRANT, WALLET_SCOPE

from .conftest import HttpxRequest, google_reason, loyalty_object


def test_google_auth_obtains_a_bearer_token_from_the_generated_key_file(
    credentials: service_account.Credentials, plain_http: httpx.Client
) -> None:
    """google-auth loads the generated key unchanged and gets a token from /token."""
    credentials.refresh(HttpxRequest(plain_http))

    assert credentials.token.startswith("ya29.")
    assert credentials.valid


def test_token_endpoint_rejects_an_assertion_signed_by_another_key(
    stack: EmulatorStack, plain_http: httpx.Client
) -> None:
    """An assertion not signed by the service account's key is invalid_grant."""
    info = _key_info(stack)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    response = _grant(plain_http, stack, crypt.RSASigner.from_string(pem), info)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_endpoint_rejects_an_assertion_without_the_wallet_scope(
    stack: EmulatorStack, plain_http: httpx.Client
) -> None:
    """A correctly signed assertion asking for another scope is invalid_scope."""
    info = _key_info(stack)
    signer = crypt.RSASigner.from_service_account_info(info)
    response = _grant(plain_http, stack, signer, info, scope="https://example.com/x")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_google_auth_surfaces_a_refused_grant_as_refresh_error(
    stack: EmulatorStack, plain_http: httpx.Client
) -> None:
    """A key whose token_uri is right but whose scope is wrong fails to refresh."""
    info = _key_info(stack)
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    with pytest.raises(google.auth.exceptions.RefreshError):
        creds.refresh(HttpxRequest(plain_http))


def test_object_insert_then_get_returns_it_with_its_class(
    google: httpx.Client, issuer: str, loyalty_class: str
) -> None:
    """An inserted object comes back from get with a copy of its class."""
    body = loyalty_object(issuer, loyalty_class, "card-1")
    inserted = google.post("/loyaltyObject", json=body)
    fetched = google.get(f"/loyaltyObject/{issuer}.card-1")

    assert inserted.status_code == 200
    assert fetched.status_code == 200
    assert fetched.json()["loyaltyPoints"] == body["loyaltyPoints"]
    assert fetched.json()["classReference"]["reviewStatus"] == "APPROVED"


def test_patch_replaces_only_the_top_level_fields_it_sends(
    google: httpx.Client, issuer: str, loyalty_class: str
) -> None:
    """PATCH keeps fields it does not name and replaces arrays wholesale."""
    modules = [{"id": "a", "body": "one"}, {"id": "b", "body": "two"}]
    body = loyalty_object(issuer, loyalty_class, "card-2", textModulesData=modules)
    google.post("/loyaltyObject", json=body)

    patch = {
        "loyaltyPoints": {"balance": {"int": 250}},
        "textModulesData": [{"id": "c", "body": "three"}],
    }
    patched = google.patch(f"/loyaltyObject/{issuer}.card-2", json=patch).json()

    assert patched["state"] == "ACTIVE"
    assert patched["loyaltyPoints"] == {"balance": {"int": 250}}
    assert patched["textModulesData"] == [{"id": "c", "body": "three"}]


def test_update_replaces_the_whole_object(
    google: httpx.Client, issuer: str, loyalty_class: str
) -> None:
    """PUT drops every field the new body does not carry."""
    body = loyalty_object(issuer, loyalty_class, "card-3", accountName="Ada")
    google.post("/loyaltyObject", json=body)

    replacement = loyalty_object(issuer, loyalty_class, "card-3")
    del replacement["loyaltyPoints"]
    updated = google.put(f"/loyaltyObject/{issuer}.card-3", json=replacement).json()

    assert "accountName" not in updated
    assert "loyaltyPoints" not in updated


def test_patch_of_a_missing_object_is_not_found(
    google: httpx.Client, issuer: str
) -> None:
    """PATCH of an id never inserted answers 404 NOT_FOUND."""
    response = google.patch(f"/loyaltyObject/{issuer}.nobody", json={"state": "ACTIVE"})

    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
    assert google_reason(response) == "resourceNotFound"


def test_insert_of_an_existing_id_conflicts(
    google: httpx.Client, issuer: str, loyalty_class: str
) -> None:
    """A second insert with the same id answers 409 ALREADY_EXISTS."""
    body = loyalty_object(issuer, loyalty_class, "card-4")
    google.post("/loyaltyObject", json=body)
    response = google.post("/loyaltyObject", json=body)

    assert response.status_code == 409
    assert response.json()["error"]["status"] == "ALREADY_EXISTS"
    assert google_reason(response) == "alreadyExists"


def test_insert_into_a_missing_class_is_not_found(
    google: httpx.Client, issuer: str
) -> None:
    """An object naming a class that does not exist answers 404 about the class."""
    body = loyalty_object(issuer, f"{issuer}.no-such-class", "card-5")
    response = google.post("/loyaltyObject", json=body)

    assert response.status_code == 404
    assert "IssuerClassNotFoundException" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"state": "SHINY"}, "'state' (TYPE_ENUM)"),
        ({"loyaltyPoints": {"balance": {"int": "many"}}}, "loyaltyPoints.balance.int"),
        ({"loyaltyPoints": {"balance": {"int": 2**31}}}, "TYPE_INT32"),
        ({"favouriteColour": "blue"}, 'Unknown name "favouriteColour"'),
        ({"textModulesData": [{"id": "a", "colour": 1}]}, "'textModulesData[0]'"),
        ({"version": "v2"}, "TYPE_INT64"),
        ({"hasUsers": "yes"}, "TYPE_BOOL"),
    ],
)
def test_bodies_that_break_the_discovery_schema_are_bad_requests(
    google: httpx.Client,
    issuer: str,
    loyalty_class: str,
    change: dict[str, object],
    fragment: str,
) -> None:
    """Wrong types, enum values and unknown fields answer 400 INVALID_ARGUMENT."""
    body = {**loyalty_object(issuer, loyalty_class, "card-6"), **change}
    response = google.post("/loyaltyObject", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert fragment in response.json()["error"]["message"]


def test_deprecated_enum_aliases_and_int64_strings_are_accepted(
    google: httpx.Client, issuer: str, loyalty_class: str
) -> None:
    """Lower-case state aliases and int64 fields given as strings are valid."""
    body = loyalty_object(issuer, loyalty_class, "card-7", state="active")
    body["loyaltyPoints"]["balance"] = {
        "money": {"micros": "1500000", "currencyCode": "EUR"}
    }
    response = google.post("/loyaltyObject", json=body)

    assert response.status_code == 200, response.text


def test_insert_without_a_state_is_a_bad_request(
    google: httpx.Client, issuer: str, loyalty_class: str
) -> None:
    """Insert needs id, classId and state."""
    body = loyalty_object(issuer, loyalty_class, "card-8")
    del body["state"]
    response = google.post("/loyaltyObject", json=body)

    assert response.status_code == 400
    assert "state" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "resource_id",
    ["no-issuer-prefix", "3388000000022222222.bad!char", "3388000000022222222.sp ace"],
)
def test_malformed_resource_ids_are_invalid_resources(
    google: httpx.Client, resource_id: str
) -> None:
    """Ids that are not <issuerId>.<[A-Za-z0-9._-]+> answer 400 invalidResource."""
    response = google.get(f"/loyaltyObject/{resource_id}")

    assert response.status_code == 400
    assert google_reason(response) == "invalidResource"


def test_ids_of_another_issuer_are_permission_denied(google: httpx.Client) -> None:
    """Reading an object of an issuer the account does not belong to answers 403."""
    response = google.get("/loyaltyObject/1111111111111111111.card")

    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert google_reason(response) == "permissionDenied"


def test_calls_with_an_unknown_token_are_unauthenticated(
    stack: EmulatorStack, plain_http: httpx.Client, issuer: str
) -> None:
    """A bearer token the emulator never issued answers 401 authError."""
    url = f"{stack.env['WALLET_SYNC_GOOGLE_API_URL']}/loyaltyObject/{issuer}.card"
    response = plain_http.get(url, headers={"authorization": "Bearer ya29.made-up"})

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert google_reason(response) == "authError"
    assert "invalid_token" in response.headers["www-authenticate"]


def test_tokens_stop_working_when_they_expire(tmp_path: Path) -> None:
    """An access token past its lifetime is refused like an unknown one."""
    with (
        EmulatorStack.start(tmp_path, token_lifetime_s=1) as short,
        httpx.Client() as http,
    ):
        creds = service_account.Credentials.from_service_account_file(
            short.env["WALLET_SYNC_GOOGLE_CREDENTIALS_FILE"], scopes=[WALLET_SCOPE]
        )
        creds.refresh(HttpxRequest(http))
        api, issuer = (
            short.env[key]
            for key in ("WALLET_SYNC_GOOGLE_API_URL", "WALLET_SYNC_GOOGLE_ISSUER_ID")
        )
        url = f"{api}/loyaltyClass/{issuer}.x"
        headers = {"authorization": f"Bearer {creds.token}"}
        fresh = http.get(url, headers=headers)
        time.sleep(1.1)
        stale = http.get(url, headers=headers)

    assert fresh.status_code == 404
    assert stale.status_code == 401


def test_list_pages_through_the_objects_of_a_class(
    google: httpx.Client, issuer: str, loyalty_class: str
) -> None:
    """list with classId and maxResults returns pages linked by nextPageToken."""
    for number in range(3):
        google.post(
            "/loyaltyObject", json=loyalty_object(issuer, loyalty_class, f"l{number}")
        )

    first = google.get(
        "/loyaltyObject", params={"classId": loyalty_class, "maxResults": 2}
    ).json()
    token = first["pagination"]["nextPageToken"]
    second = google.get(
        "/loyaltyObject",
        params={"classId": loyalty_class, "maxResults": 2, "token": token},
    ).json()

    assert [o["id"] for o in first["resources"] + second["resources"]] == [
        f"{issuer}.l0",
        f"{issuer}.l1",
        f"{issuer}.l2",
    ]
    assert "nextPageToken" not in second["pagination"]


def test_objects_cannot_join_a_draft_class(google: httpx.Client, issuer: str) -> None:
    """A class kept in DRAFT cannot have objects, as the discovery document says."""
    draft = {"id": f"{issuer}.draft", "issuerName": "X", "reviewStatus": "DRAFT"}
    google.post("/loyaltyClass", json=draft)
    response = google.post(
        "/loyaltyObject", json=loyalty_object(issuer, draft["id"], "d1")
    )

    assert response.status_code == 400


def test_control_api_shows_stored_objects_without_a_token(
    stack: EmulatorStack, google: httpx.Client, issuer: str, loyalty_class: str
) -> None:
    """Tests can read what the emulator stored without going through OAuth."""
    google.post("/loyaltyObject", json=loyalty_object(issuer, loyalty_class, "seen"))

    assert stack.google_control.stored(f"{issuer}.seen") is not None
    assert stack.google_control.stored(f"{issuer}.unseen") is None


def _key_info(stack: EmulatorStack) -> dict[str, str]:
    key_file = Path(stack.env["WALLET_SYNC_GOOGLE_CREDENTIALS_FILE"])
    info: dict[str, str] = json.loads(key_file.read_text())
    return info


def _grant(
    http: httpx.Client,
    stack: EmulatorStack,
    signer: crypt.Signer,
    info: dict[str, str],
    *,
    scope: str = WALLET_SCOPE,
) -> httpx.Response:
    now = int(time.time())
    claims = {
        "iss": info["client_email"],
        "aud": info["token_uri"],
        "scope": scope,
        "iat": now,
        "exp": now + 3600,
    }
    assertion = jwt.encode(signer, claims).decode()
    form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
    return http.post(info["token_uri"], data=form)
