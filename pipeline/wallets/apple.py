"""Apple Wallet: tell a device that a pass changed, over APNs.

The push is an empty JSON object sent over HTTP/2 with the Pass Type ID
certificate as TLS client certificate; the device then asks the pass web
service what changed. A token APNs calls dead is reported, not raised: the
caller removes that registration and the card is not failed for it.
"""

from __future__ import annotations

import enum
import ssl
from pathlib import Path

import httpx

from pipeline.errors import (
    WalletBadResponse,
    WalletConfigError,
    WalletError,
    WalletRateLimited,
    WalletRequestRejected,
    WalletServerError,
)
from pipeline.wallets._http import error_json, transport_errors

WALLET = "apple"
DEAD_TOKEN_REASONS = frozenset({"BadDeviceToken", "Unregistered", "ExpiredToken"})
CONFIG_REASONS = frozenset(
    {"DeviceTokenNotForTopic", "BadTopic", "MissingTopic", "TopicDisallowed"}
)


class PushResult(enum.Enum):
    DELIVERED = "delivered"
    TOKEN_DEAD = "token_dead"


def client_tls_context(
    cert_file: Path, key_file: Path, ca_file: Path | None = None
) -> ssl.SSLContext:
    """TLS context presenting the Pass Type ID certificate to APNs."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        context.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise WalletConfigError(
            f"cannot load the APNs certificate {cert_file} with key {key_file}: {exc}",
            wallet=WALLET,
        ) from exc
    return context


class ApnsClient:
    """Pushes to APNs; share one per process so pushes reuse one connection."""

    def __init__(self, http: httpx.Client, base_url: str) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")

    def close(self) -> None:
        """Close the connections of the client's HTTP client."""
        self._http.close()

    def push(self, token: str, topic: str) -> PushResult:
        """Send the pass-update push for ``topic`` to the device ``token``."""
        with transport_errors(WALLET, token):
            response = self._http.post(
                f"{self._base_url}/3/device/{token}",
                content=b"{}",
                headers={
                    "apns-topic": topic,
                    "apns-push-type": "background",
                    "apns-priority": "5",
                    "content-type": "application/json",
                },
            )
        if response.status_code == 200:
            return PushResult.DELIVERED
        reason = str(error_json(response).get("reason") or "") or None
        if response.status_code == 410 or reason in DEAD_TOKEN_REASONS:
            return PushResult.TOKEN_DEAD
        raise _error(response, token, reason)


def _error(response: httpx.Response, token: str, reason: str | None) -> WalletError:
    status = response.status_code
    cls: type[WalletError]
    if reason in CONFIG_REASONS:
        cls, message = (
            WalletConfigError,
            ("APNs refused the topic; the certificate does not match the pass type"),
        )
    elif status == 403:
        cls, message = (
            WalletConfigError,
            ("APNs refused the certificate; check it has not expired or been revoked"),
        )
    elif status == 429:
        cls, message = WalletRateLimited, "APNs throttled pushes to this device"
    elif status >= 500:
        cls, message = WalletServerError, "APNs is unavailable"
    elif 400 <= status < 500:
        cls, message = WalletRequestRejected, "APNs rejected the push"
    else:
        cls, message = WalletBadResponse, f"unexpected APNs status {status}"
    return cls(message, wallet=WALLET, target=token, status=status, reason=reason)
