"""Clients for the wallet APIs.

They know nothing of Dramatiq or the database: each takes an ``httpx.Client``
(so timeouts, pools and TLS are the caller's choice, and tests can hand in a
transport) and the data of one card, and raises errors from
:mod:`pipeline.errors`.
"""

from pipeline.wallets.apple import ApnsClient, PushResult
from pipeline.wallets.google import GoogleObject, GoogleWalletClient, HttpxRequest

__all__ = [
    "ApnsClient",
    "GoogleObject",
    "GoogleWalletClient",
    "HttpxRequest",
    "PushResult",
]
