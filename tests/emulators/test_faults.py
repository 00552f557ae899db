"""Fault rules, latency and the request log, through the control API."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pipeline.emulators import EmulatorControlError, EmulatorStack, FaultRule
from pipeline.emulators.oauth import WALLET_SCOPE

from .conftest import VALID_TOKEN, HttpxRequest, google_reason
from .test_apns import push

MISSING = "3388000000022222222.missing"


def statuses(google: httpx.Client, count: int, object_id: str = MISSING) -> list[int]:
    """Statuses of `count` GETs of one object id."""
    return [google.get(f"/loyaltyObject/{object_id}").status_code for _ in range(count)]


def test_a_rule_with_times_fails_that_many_calls_then_stops(
    stack: EmulatorStack, google: httpx.Client
) -> None:
    """times=2 fails the next two matching calls; the third gets the real answer."""
    stack.google_control.add_fault(MISSING, 503, times=2)

    assert statuses(google, 3) == [503, 503, 404]
    assert stack.google_control.faults()[0]["remaining"] == 0


def test_a_rule_without_times_fails_every_matching_call(
    stack: EmulatorStack, google: httpx.Client
) -> None:
    """times=null keeps failing; other targets are unaffected."""
    stack.google_control.add_fault(MISSING, 500)

    assert statuses(google, 3) == [500, 500, 500]
    assert statuses(google, 1, "3388000000022222222.other") == [404]


def test_injected_errors_use_the_real_envelope_and_default_reasons(
    stack: EmulatorStack, google: httpx.Client
) -> None:
    """A 429 fault looks like Google's RESOURCE_EXHAUSTED with rateLimitExceeded."""
    stack.google_control.add_fault("*", 429, times=1)
    response = google.get(f"/loyaltyObject/{MISSING}")

    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert google_reason(response) == "rateLimitExceeded"


def test_a_rule_can_name_the_reason_and_the_method(
    stack: EmulatorStack, google: httpx.Client
) -> None:
    """A PATCH-only 403 quotaExceeded rule leaves GETs alone."""
    stack.google_control.add_fault("*", 403, reason="quotaExceeded", method="patch")
    patched = google.patch(f"/loyaltyObject/{MISSING}", json={"state": "ACTIVE"})
    fetched = google.get(f"/loyaltyObject/{MISSING}")

    assert patched.status_code == 403
    assert google_reason(patched) == "quotaExceeded"
    assert fetched.status_code == 404


def test_a_rate_with_a_seed_fails_the_same_calls_every_time(
    stack: EmulatorStack, google: httpx.Client
) -> None:
    """rate=0.5 with seed=7 picks the same calls to fail after a reset."""
    stack.google_control.add_fault("*", 503, rate=0.5, seed=7)
    first = statuses(google, 20)
    stack.google_control.reset()
    stack.google_control.add_fault("*", 503, rate=0.5, seed=7)
    second = statuses(google, 20)

    assert first == second
    assert set(first) == {503, 404}


def test_a_garbage_body_is_returned_verbatim(
    stack: EmulatorStack, google: httpx.Client
) -> None:
    """A rule with a body answers that text instead of a JSON envelope."""
    stack.google_control.add_fault(
        "*", 502, body="<html>upstream broke</html>", times=1
    )
    response = google.get(f"/loyaltyObject/{MISSING}")

    assert response.status_code == 502
    assert response.text == "<html>upstream broke</html>"


def test_latency_rules_delay_calls_without_blocking_others(
    stack: EmulatorStack,
) -> None:
    """Ten calls delayed 300 ms each finish together, well under ten times 300 ms."""
    stack.apns_control.add_fault(VALID_TOKEN, None, latency_ms=300)
    topic = stack.env["WALLET_SYNC_APNS_TOPIC"]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(
            base_url=stack.apns_url, http2=True, verify=stack.client_ssl_context()
        ) as client:
            calls = [
                client.post(
                    f"/3/device/{VALID_TOKEN}",
                    content=b"{}",
                    headers={"apns-topic": topic},
                )
                for _ in range(10)
            ]
            return [response.status_code for response in await asyncio.gather(*calls)]

    started = time.perf_counter()
    codes = asyncio.run(burst())
    elapsed = time.perf_counter() - started

    assert codes == [200] * 10
    assert 0.3 <= elapsed < 1.5


def test_default_latency_applies_to_every_call(
    stack: EmulatorStack, google: httpx.Client
) -> None:
    """set_latency slows every API call by at least that much."""
    stack.google_control.set_latency(150)
    started = time.perf_counter()
    statuses(google, 2)

    assert time.perf_counter() - started >= 0.3


def test_apns_faults_use_apple_reasons(
    stack: EmulatorStack, apns: httpx.Client, topic: str
) -> None:
    """An injected 410 carries Unregistered and a timestamp; 503 ServiceUnavailable."""
    stack.apns_control.add_fault(VALID_TOKEN, 410, times=1)
    stack.apns_control.add_fault("*", 503, times=1)
    gone = push(apns, VALID_TOKEN, topic)
    unavailable = push(apns, VALID_TOKEN, topic)

    assert gone.json()["reason"] == "Unregistered"
    assert isinstance(gone.json()["timestamp"], int)
    assert unavailable.json() == {"reason": "ServiceUnavailable"}


def test_token_endpoint_faults_only_match_the_token_target(
    stack: EmulatorStack, plain_http: httpx.Client
) -> None:
    """A wildcard rule spares /token; a "token" rule fails it in OAuth form."""
    from google.oauth2 import service_account

    stack.google_control.add_fault("*", 503)
    creds = service_account.Credentials.from_service_account_file(
        stack.env["WALLET_SYNC_GOOGLE_CREDENTIALS_FILE"], scopes=[WALLET_SCOPE]
    )
    creds.refresh(HttpxRequest(plain_http))
    stack.google_control.clear_faults()
    stack.google_control.add_fault("token", 400, reason="invalid_grant", times=1)
    url = stack.google_url + "/token"
    response = plain_http.post(url, data={"grant_type": "x"})

    assert creds.token
    assert response.json()["error"] == "invalid_grant"


def test_the_request_log_records_calls_and_filters_by_target(
    stack: EmulatorStack, google: httpx.Client, apns: httpx.Client, topic: str
) -> None:
    """Each API call is logged with method, path, status and target."""
    stack.google_control.clear_requests()
    google.get(f"/loyaltyObject/{MISSING}")
    push(apns, VALID_TOKEN, topic)

    google_log = stack.google_control.requests(target=MISSING)
    apns_log = stack.apns_control.requests()

    assert [(e["method"], e["status"]) for e in google_log] == [("GET", 404)]
    assert google_log[0]["path"] == f"/walletobjects/v1/loyaltyObject/{MISSING}"
    assert apns_log[0]["target"] == VALID_TOKEN
    assert abs(apns_log[0]["time"] - time.time()) < 30


def test_clearing_the_request_log_empties_it(
    stack: EmulatorStack, google: httpx.Client
) -> None:
    """DELETE /_emulator/requests forgets earlier calls."""
    statuses(google, 2)
    stack.google_control.clear_requests()

    assert stack.google_control.requests() == []


@pytest.mark.parametrize(
    "rule",
    [
        {"target": "*", "status": 99},
        {"target": "*", "times": 0},
        {"target": "*", "rate": 1.5},
        {"target": "*", "body": "x"},
        {"target": "*", "colour": "red"},
    ],
)
def test_malformed_rules_are_refused(
    stack: EmulatorStack, plain_http: httpx.Client, rule: dict[str, object]
) -> None:
    """The control API answers 400 with an explanation for impossible rules."""
    response = plain_http.post(stack.google_url + "/_emulator/faults", json=rule)

    assert response.status_code == 400
    assert response.json()["error"]


def test_the_python_client_checks_rules_before_sending(stack: EmulatorStack) -> None:
    """FaultRule refuses a negative latency before any request is made."""
    with pytest.raises(ValueError, match="latency_ms"):
        FaultRule(latency_ms=-1)
    with pytest.raises(EmulatorControlError):
        stack.apns_control.set_latency(-5)
