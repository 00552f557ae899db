"""The APNs emulator over HTTP/2 with client-certificate TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from pipeline.emulators import EmulatorStack

from .conftest import VALID_TOKEN


def push(
    client: httpx.Client,
    token: str,
    topic: str | None,
    *,
    content: bytes = b"{}",
    **headers: str,
) -> httpx.Response:
    """POST a pass-update push the way the pipeline sends it."""
    all_headers = {name.replace("_", "-"): value for name, value in headers.items()}
    if topic is not None:
        all_headers["apns-topic"] = topic
    return client.post(f"/3/device/{token}", content=content, headers=all_headers)


def test_a_valid_push_is_accepted_over_http2_with_an_apns_id(
    apns: httpx.Client, topic: str
) -> None:
    """A {} push to a well-formed token answers 200, empty, with an apns-id."""
    response = push(apns, VALID_TOKEN, topic, apns_push_type="background")

    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    assert response.content == b""
    uuid.UUID(response.headers["apns-id"])


def test_the_apns_id_sent_is_echoed_back(apns: httpx.Client, topic: str) -> None:
    """A client-chosen apns-id comes back unchanged."""
    apns_id = str(uuid.uuid4())
    response = push(apns, VALID_TOKEN, topic, apns_id=apns_id)

    assert response.headers["apns-id"] == apns_id


def test_a_token_marked_unregistered_answers_410_with_a_timestamp(
    stack: EmulatorStack, apns: httpx.Client, topic: str
) -> None:
    """Tokens the emulator was told are gone answer 410 Unregistered + timestamp."""
    stack.apns_control.mark_unregistered(VALID_TOKEN, timestamp_ms=1_700_000_000_000)
    response = push(apns, VALID_TOKEN, topic)

    assert response.status_code == 410
    assert response.json() == {"reason": "Unregistered", "timestamp": 1_700_000_000_000}


@pytest.mark.parametrize("token", ["abc", "zz" * 32, "ab" * 33])
def test_malformed_device_tokens_are_bad_device_tokens(
    apns: httpx.Client, topic: str, token: str
) -> None:
    """A token that is not 64 hex characters answers 400 BadDeviceToken."""
    response = push(apns, token, topic)

    assert response.status_code == 400
    assert response.json() == {"reason": "BadDeviceToken"}


def test_a_push_without_a_topic_is_refused(apns: httpx.Client) -> None:
    """No apns-topic header answers 400 MissingTopic."""
    response = push(apns, VALID_TOKEN, None)

    assert response.status_code == 400
    assert response.json() == {"reason": "MissingTopic"}


def test_a_topic_the_certificate_does_not_cover_is_disallowed(
    apns: httpx.Client,
) -> None:
    """A topic other than the certificate's pass type id answers 400 TopicDisallowed."""
    response = push(apns, VALID_TOKEN, "pass.com.example.other")

    assert response.status_code == 400
    assert response.json() == {"reason": "TopicDisallowed"}


def test_the_topic_comes_from_the_connection_certificate(stack: EmulatorStack) -> None:
    """A second certificate for another pass type id may push to that topic only."""
    other = stack.pki.issue_client_certificate("pass.com.example.other", name="other")
    context = ssl.create_default_context(cafile=str(stack.pki.ca_file))
    context.load_cert_chain(str(other.cert_file), str(other.key_file))
    with httpx.Client(base_url=stack.apns_url, http2=True, verify=context) as client:
        own = push(client, VALID_TOKEN, "pass.com.example.other")
        foreign = push(client, VALID_TOKEN, stack.env["WALLET_SYNC_APNS_TOPIC"])

    assert own.status_code == 200
    assert foreign.status_code == 400


@pytest.mark.parametrize(
    ("content", "status", "reason"),
    [
        (b"", 400, "PayloadEmpty"),
        (b"{not json", 400, "BadPayload"),
        (b"[]", 400, "BadPayload"),
        (b'{"x": "' + b"a" * 4100 + b'"}', 413, "PayloadTooLarge"),
    ],
)
def test_bodies_must_be_small_json_objects(
    apns: httpx.Client, topic: str, content: bytes, status: int, reason: str
) -> None:
    """Empty, malformed and oversized payloads get Apple's reasons."""
    response = push(apns, VALID_TOKEN, topic, content=content)

    assert response.status_code == status
    assert response.json() == {"reason": reason}


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("apns_priority", "7", "BadPriority"),
        ("apns_push_type", "shout", "InvalidPushType"),
        ("apns_expiration", "soon", "BadExpirationDate"),
        ("apns_id", "not-a-uuid", "BadMessageId"),
    ],
)
def test_invalid_delivery_headers_are_refused(
    apns: httpx.Client, topic: str, header: str, value: str, reason: str
) -> None:
    """Optional apns-* headers with impossible values answer 400 with their reason."""
    response = push(apns, VALID_TOKEN, topic, **{header: value})

    assert response.status_code == 400
    assert response.json() == {"reason": reason}


def test_one_connection_carries_more_than_a_thousand_pushes(
    apns: httpx.Client, topic: str
) -> None:
    """The server never closes a busy HTTP/2 connection after a request quota."""
    codes = {push(apns, VALID_TOKEN, topic).status_code for _ in range(1050)}

    assert codes == {200}


def test_http1_clients_are_refused(stack: EmulatorStack, topic: str) -> None:
    """A push over HTTP/1.1 answers 505 without an APNs reason."""
    context = stack.client_ssl_context()
    with httpx.Client(base_url=stack.apns_url, verify=context) as client:
        response = push(client, VALID_TOKEN, topic)

    assert response.http_version == "HTTP/1.1"
    assert response.status_code == 505


def test_the_handshake_fails_without_a_client_certificate(stack: EmulatorStack) -> None:
    """A client presenting no certificate cannot complete a request."""
    context = ssl.create_default_context(cafile=str(stack.pki.ca_file))
    with (
        httpx.Client(base_url=stack.apns_url, http2=True, verify=context) as client,
        pytest.raises(httpx.TransportError),
    ):
        push(client, VALID_TOKEN, stack.env["WALLET_SYNC_APNS_TOPIC"])


def test_an_expired_client_certificate_is_refused(stack: EmulatorStack) -> None:
    """An expired Pass Type ID certificate fails the TLS handshake."""
    expired = stack.pki.issue_client_certificate(expired=True, name="expired")
    context = ssl.create_default_context(cafile=str(stack.pki.ca_file))
    context.load_cert_chain(str(expired.cert_file), str(expired.key_file))
    with (
        httpx.Client(base_url=stack.apns_url, http2=True, verify=context) as client,
        pytest.raises(httpx.TransportError),
    ):
        push(client, VALID_TOKEN, expired.pass_type_id)


def test_the_stack_can_hand_out_an_expired_client_certificate(tmp_path: Path) -> None:
    """expired_client_cert hands out a lapsed certificate; control still works."""
    with EmulatorStack.start(tmp_path, expired_client_cert=True) as stack:
        pem = Path(stack.env["WALLET_SYNC_APNS_CERT_FILE"]).read_bytes()
        log = stack.apns_control.requests()

    not_after = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    assert not_after < datetime.now(UTC)
    assert log == []


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_pushes_with_the_generated_certificates(
    stack: EmulatorStack, topic: str
) -> None:
    """curl --http2 with the generated cert, key and CA gets a 200."""
    env = stack.env
    result = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--http2",
            "--cert",
            env["WALLET_SYNC_APNS_CERT_FILE"],
            "--key",
            env["WALLET_SYNC_APNS_KEY_FILE"],
            "--cacert",
            env["WALLET_SYNC_APNS_CA_FILE"],
            "--header",
            f"apns-topic: {topic}",
            "--data",
            "{}",
            "--write-out",
            "%{http_version} %{http_code}",
            f"{env['WALLET_SYNC_APNS_URL']}/3/device/{VALID_TOKEN}",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "2 200"
