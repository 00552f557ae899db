"""Google Wallet: write a loyalty object's current state.

``PATCH`` the object; on 404 the object was never created, so insert it; on 409
from that insert someone else created it meanwhile, so ``PATCH`` again. Every
write carries absolute values, so repeating it is harmless.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from google.auth.transport import Request, Response

from pipeline.errors import (
    WalletBadResponse,
    WalletClassMissing,
    WalletConfigError,
    WalletConnectionError,
    WalletError,
    WalletRateLimited,
    WalletRequestRejected,
    WalletServerError,
)
from pipeline.wallets._http import error_json, json_body, transport_errors

WALLET = "google"
SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


@dataclass(frozen=True, slots=True)
class GoogleObject:
    """The state of one card as its Google Wallet loyalty object shows it."""

    object_id: str
    class_id: str | None
    balance: int
    points_label: str
    account_id: str
    account_name: str

    def patch_body(self) -> dict[str, Any]:
        return {
            "state": "ACTIVE",
            "accountId": self.account_id,
            "accountName": self.account_name,
            "loyaltyPoints": {
                "label": self.points_label,
                "balance": {"int": self.balance},
            },
        }

    def insert_body(self) -> dict[str, Any]:
        return {
            "id": self.object_id,
            "classId": self.class_id,
            **self.patch_body(),
            "barcode": {"type": "QR_CODE", "value": self.account_id},
        }


class _ObjectMissing(Exception):
    """404 on a PATCH: the object has to be inserted."""


class _ObjectExists(Exception):
    """409 on an insert: the object appeared meanwhile."""


class HttpxRequest(Request):
    """google-auth's transport interface over an ``httpx.Client``.

    google-auth ships transports for requests and urllib3 only; the token
    endpoint is called rarely, so a thin adapter over the client we already
    hold (with its timeouts) is all it takes.
    """

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Response:
        try:
            response = self._http.request(
                method,
                url,
                content=body,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.HTTPError as exc:
            raise auth_exceptions.TransportError(str(exc)) from exc
        return _AuthResponse(response)


class _AuthResponse(Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._response.headers)

    @property
    def data(self) -> bytes:
        return self._response.content


class GoogleWalletClient:
    """Loyalty-object writes for one issuer; safe to share between threads."""

    def __init__(
        self, http: httpx.Client, credentials: Credentials, base_url: str
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._base_url = base_url.rstrip("/")
        self._auth_request = HttpxRequest(http)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connections of the client's HTTP client."""
        self._http.close()

    def sync_object(self, obj: GoogleObject) -> Literal["patched", "inserted"]:
        """Write ``obj`` to Google Wallet, creating the object if it is missing."""
        try:
            self._patch(obj)
            return "patched"
        except _ObjectMissing:
            pass
        try:
            self._insert(obj)
            return "inserted"
        except _ObjectExists:
            self._patch(obj)
            return "patched"

    def get_object(self, object_id: str) -> dict[str, Any] | None:
        """The stored object, or None when Google has none with that id."""
        try:
            response = self._call("GET", f"/loyaltyObject/{object_id}", object_id)
        except _ObjectMissing:
            return None
        return json_body(response, WALLET, object_id)

    def ensure_class(self, class_id: str, issuer_name: str, program_name: str) -> bool:
        """Insert a loyalty class unless it exists; True when it was inserted."""
        body = {
            "id": class_id,
            "issuerName": issuer_name,
            "programName": program_name,
            "reviewStatus": "UNDER_REVIEW",
        }
        try:
            self._call("POST", "/loyaltyClass", class_id, json=body)
        except _ObjectExists:
            return False
        return True

    def check_access(self) -> None:
        """Obtain a token, raising the wallet error that would stop a run."""
        self._token(force=True)

    def check_issuer(self, issuer_id: str) -> None:
        """Read one loyalty class of the issuer: the cheapest call that proves
        the service account may act for it. Raises the error a run would get."""
        try:
            response = self._call(
                "GET",
                "/loyaltyClass",
                issuer_id,
                params={"issuerId": issuer_id, "maxResults": "1"},
            )
        except _ObjectMissing as exc:
            raise WalletConfigError(
                f"issuer {issuer_id} does not exist; "
                "check WALLET_SYNC_GOOGLE_ISSUER_ID",
                wallet=WALLET,
                target=issuer_id,
                status=404,
            ) from exc
        json_body(response, WALLET, issuer_id)

    def _patch(self, obj: GoogleObject) -> None:
        path = f"/loyaltyObject/{obj.object_id}"
        response = self._call("PATCH", path, obj.object_id, json=obj.patch_body())
        json_body(response, WALLET, obj.object_id)

    def _insert(self, obj: GoogleObject) -> None:
        if not obj.class_id:
            raise WalletClassMissing(
                "the object does not exist and the card names no class to insert "
                "it into; set the card's google_class_id",
                wallet=WALLET,
                target=obj.object_id,
            )
        try:
            response = self._call(
                "POST", "/loyaltyObject", obj.object_id, json=obj.insert_body()
            )
        except _ObjectMissing as exc:
            raise WalletClassMissing(
                f"class {obj.class_id} does not exist, so the object cannot be "
                "inserted; create the class in the Google Pay & Wallet Console",
                wallet=WALLET,
                target=obj.object_id,
                status=404,
            ) from exc
        json_body(response, WALLET, obj.object_id)

    def _call(
        self,
        method: str,
        path: str,
        target: str,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        query = {"prettyPrint": "false", **(params or {})}
        response = self._send(method, path, target, json, self._token(), query)
        if response.status_code == 401:
            # The token may have been revoked early: one fresh token, one retry.
            token = self._token(force=True)
            response = self._send(method, path, target, json, token, query)
        if response.is_success:
            return response
        raise self._error(response, target)

    def _send(
        self,
        method: str,
        path: str,
        target: str,
        json: Any,
        token: str,
        params: dict[str, str],
    ) -> httpx.Response:
        with transport_errors(WALLET, target):
            return self._http.request(
                method,
                self._base_url + path,
                json=json,
                params=params,
                headers={"authorization": f"Bearer {token}"},
            )

    def _token(self, force: bool = False) -> str:
        with self._lock:
            if force or not self._credentials.valid:
                self._refresh()
            return str(self._credentials.token)

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._auth_request)
        except auth_exceptions.TransportError as exc:
            raise WalletConnectionError(
                f"token endpoint unreachable: {exc}", wallet=WALLET
            ) from exc
        except auth_exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise WalletServerError(
                    f"token endpoint failed: {exc}", wallet=WALLET
                ) from exc
            raise WalletConfigError(
                f"service account refused a token, check the key file: {exc}",
                wallet=WALLET,
            ) from exc
        except (ValueError, TypeError, KeyError) as exc:
            # google-auth parses the token answer without checking its shape.
            raise WalletBadResponse(
                f"the token endpoint answered something that is not a token: {exc}",
                wallet=WALLET,
            ) from exc

    def _error(self, response: httpx.Response, target: str) -> Exception:
        status = response.status_code
        if status == 404:
            return _ObjectMissing()
        if status == 409:
            return _ObjectExists()
        error = error_json(response).get("error")
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or response.reason_phrase or "no message")
        reasons = [
            e.get("reason") for e in error.get("errors", []) if isinstance(e, dict)
        ]
        reason = str(reasons[0]) if reasons and reasons[0] else None
        cls = _error_class(status, reason)
        if cls is WalletConfigError:
            message = (
                f"{message}; check the service account key and that its e-mail is a "
                "user of the issuer in the Google Pay & Wallet Console"
            )
        return cls(message, wallet=WALLET, target=target, status=status, reason=reason)


def _error_class(status: int, reason: str | None) -> type[WalletError]:
    if status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS):
        return WalletRateLimited
    if status == 401 or (status == 403 and reason != "quotaExceeded"):
        return WalletConfigError
    if status >= 500:
        return WalletServerError
    if 400 <= status < 500:
        return WalletRequestRejected
    return WalletBadResponse
