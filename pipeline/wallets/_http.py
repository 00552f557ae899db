"""What the wallet clients share: turning httpx failures into wallet errors."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from pipeline.errors import (
    WalletBadResponse,
    WalletConfigError,
    WalletConnectionError,
    WalletTimeout,
)


@contextmanager
def transport_errors(wallet: str, target: str | None) -> Iterator[None]:
    """Raise timeouts, connection and TLS failures as wallet errors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise WalletTimeout(
            f"{type(exc).__name__}: no answer in time", wallet=wallet, target=target
        ) from exc
    except httpx.TransportError as exc:
        if _is_tls_refusal(exc):
            raise WalletConfigError(
                f"TLS handshake refused, check the certificate: {exc}",
                wallet=wallet,
                target=target,
            ) from exc
        raise WalletConnectionError(
            f"{type(exc).__name__}: {exc}", wallet=wallet, target=target
        ) from exc


def _is_tls_refusal(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and not isinstance(seen, ssl.SSLEOFError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def json_body(
    response: httpx.Response, wallet: str, target: str | None
) -> dict[str, Any]:
    """The response's JSON object, or WalletBadResponse naming what came instead."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise WalletBadResponse(
            f"expected a JSON object, got {response.text[:120]!r}",
            wallet=wallet,
            target=target,
            status=response.status_code,
        )
    return body


def error_json(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or an empty one when the body is not JSON."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


RequestFn = Callable[[], httpx.Response]
