"""The reference: bare Dramatiq actors on Redis, with no pipeline around them.

``dramatiq benchmarks.bare:broker -p P -t T`` runs them; the broker is named,
not made global, so that the driver can hold it next to the pipeline's.
``bare_patch`` makes the very HTTP call the pipeline makes for a Google-only
card whose object exists (one PATCH with the same body and a bearer token),
through one shared ``httpx.Client`` per process, with Dramatiq's default
middleware and nothing else: no database, no ledger, no logging of its own.
``bare_noop`` does nothing; the finder benchmark sends it in a plain
``send()`` loop.
"""

from __future__ import annotations

import os
import threading

import dramatiq
import httpx
from dramatiq.brokers.redis import RedisBroker

from benchmarks.cards import object_id, patch_body

QUEUE = "bench-bare"
TOKEN_ENV = "WALLET_SYNC_BENCH_GOOGLE_TOKEN"

broker = RedisBroker(
    url=os.environ.get("WALLET_SYNC_BROKER_URL", "redis://127.0.0.1:6379/0"),
    namespace=os.environ["WALLET_SYNC_BROKER_NAMESPACE"],
)
_local = threading.Lock()
_http: httpx.Client | None = None


def _client() -> httpx.Client:
    global _http
    with _local:
        if _http is None:
            _http = httpx.Client(
                timeout=httpx.Timeout(15.0, connect=5.0),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            )
        return _http


@dramatiq.actor(broker=broker, queue_name=QUEUE)
def bare_patch(card_id: int) -> None:
    """PATCH one loyalty object, exactly as the pipeline's Google client does."""
    base = os.environ["WALLET_SYNC_GOOGLE_API_URL"].rstrip("/")
    issuer = os.environ["WALLET_SYNC_GOOGLE_ISSUER_ID"]
    response = _client().patch(
        f"{base}/loyaltyObject/{object_id(issuer, card_id)}",
        json=patch_body(card_id),
        params={"prettyPrint": "false"},
        headers={"authorization": f"Bearer {os.environ[TOKEN_ENV]}"},
    )
    response.raise_for_status()
    response.json()


@dramatiq.actor(broker=broker, queue_name=QUEUE)
def bare_noop() -> None:
    """Nothing: the cheapest message there is."""
