"""Wallet clients built from settings, once per process.

Clients are made on first use, after a worker process forked, and shared by
its threads: one HTTP/2 connection to APNs and one connection pool and token
for Google per process. Their transports take a slot from the wallet's
throttle (``pipeline.throttle``) before each call, so the clients themselves
know nothing of rate limits or Redis.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import httpx
import redis
from dramatiq.rate_limits.backends import RedisBackend, StubBackend
from google.oauth2 import service_account

from pipeline.errors import WalletConfigError
from pipeline.settings import Settings
from pipeline.throttle import (
    MemoryCoolDown,
    RedisCoolDown,
    Throttle,
    ThrottledTransport,
    throttle,
)
from pipeline.wallets.apple import ApnsClient, client_tls_context
from pipeline.wallets.google import SCOPE, GoogleWalletClient


def http_timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(
        settings.http_read_timeout_s,
        connect=settings.http_connect_timeout_s,
        pool=settings.http_read_timeout_s,
    )


def http_limits(settings: Settings) -> httpx.Limits:
    return httpx.Limits(
        max_connections=settings.http_pool_size,
        max_keepalive_connections=settings.http_pool_size,
    )


def google_client(
    settings: Settings, throttle: Throttle | None = None
) -> GoogleWalletClient:
    """A Google Wallet client, or WalletConfigError saying what is missing."""
    path = settings.google_credentials_file
    if path is None:
        raise WalletConfigError(
            "WALLET_SYNC_GOOGLE_CREDENTIALS_FILE is not set", wallet="google"
        )
    try:
        credentials = service_account.Credentials.from_service_account_file(
            str(path), scopes=[SCOPE]
        )
    except (OSError, ValueError) as exc:
        raise WalletConfigError(
            f"cannot load the service-account key {path}: {exc}", wallet="google"
        ) from exc
    http = httpx.Client(
        timeout=http_timeout(settings),
        transport=_transport(
            httpx.HTTPTransport(limits=http_limits(settings)),
            throttle,
            settings.google_api_url,
        ),
    )
    return GoogleWalletClient(http, credentials, settings.google_api_url)


def apns_client(settings: Settings, throttle: Throttle | None = None) -> ApnsClient:
    """An APNs client over HTTP/2, or WalletConfigError saying what is missing."""
    if settings.apns_cert_file is None or settings.apns_key_file is None:
        raise WalletConfigError(
            "WALLET_SYNC_APNS_CERT_FILE and WALLET_SYNC_APNS_KEY_FILE must be set",
            wallet="apple",
        )
    tls = client_tls_context(
        settings.apns_cert_file, settings.apns_key_file, settings.apns_ca_file
    )
    inner = httpx.HTTPTransport(http2=True, verify=tls, limits=http_limits(settings))
    http = httpx.Client(
        timeout=http_timeout(settings),
        transport=_transport(inner, throttle, settings.apns_url),
    )
    return ApnsClient(http, settings.apns_url)


def _transport(
    inner: httpx.HTTPTransport, throttle: Throttle | None, api_url: str
) -> httpx.BaseTransport:
    return inner if throttle is None else ThrottledTransport(inner, throttle, api_url)


def throttles(
    settings: Settings, redis_client: redis.Redis | None
) -> dict[str, Throttle]:
    """Each wallet's throttle: shared through Redis, or per process without it.

    Without Redis (the in-process demo) a configured rate holds per process.
    """
    backend = (
        StubBackend() if redis_client is None else RedisBackend(client=redis_client)
    )
    rates = {"google": settings.google_rate_limit, "apple": settings.apns_rate_limit}
    prefix = f"{settings.broker_namespace}:wallet-rate"
    return {
        wallet: throttle(
            wallet,
            per_second,
            backend,
            MemoryCoolDown()
            if redis_client is None
            else RedisCoolDown(redis_client, f"{prefix}:{wallet}:cool-down"),
            key=f"{prefix}:{wallet}",
            cool_down_ms=settings.rate_limit_cooldown_ms,
            max_wait_ms=settings.rate_limit_max_wait_ms,
        )
        for wallet, per_second in rates.items()
    }


@dataclass
class Clients:
    """The process's wallet clients, each built on first use.

    Google's client (a connection pool and one token) is shared by the
    process's threads. APNs gets one client, so one HTTP/2 connection, per
    thread: httpcore's synchronous HTTP/2 connection is not safe to drive from
    several threads at once under load.
    """

    settings: Settings
    throttles: dict[str, Throttle] = field(default_factory=dict)
    _google: GoogleWalletClient | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)
    _apns_clients: list[ApnsClient] = field(default_factory=list)

    def google(self) -> GoogleWalletClient:
        with self._lock:
            if self._google is None:
                self._google = google_client(
                    self.settings, self.throttles.get("google")
                )
            return self._google

    def apple(self) -> ApnsClient:
        client: ApnsClient | None = getattr(self._local, "apns", None)
        if client is None:
            client = self._local.apns = apns_client(
                self.settings, self.throttles.get("apple")
            )
            with self._lock:
                self._apns_clients.append(client)
        return client

    def close(self) -> None:
        """Close every connection the clients opened."""
        with self._lock:
            if self._google is not None:
                self._google.close()
            for client in self._apns_clients:
                client.close()
            self._google = None
            self._apns_clients.clear()
        self._local = threading.local()
