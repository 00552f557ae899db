"""TLS with client certificates for hypercorn, exposing the peer certificate.

APNs decides which topics a connection may push to from the client
certificate, so the APNs emulator must see that certificate per request.
Hypercorn verifies client certificates but does not pass them to the ASGI
application. This module closes that gap without touching hypercorn's
internals:

- `MutualTlsConfig.create_ssl_context` makes asyncio wrap every connection in
  `_CapturingSSLObject` (``SSLContext.sslobject_class`` is the documented hook
  for that), whose ``do_handshake`` stores the verified peer certificate in a
  context variable once the handshake succeeds.
- asyncio completes the handshake in the connection's read callback and, in
  the same call, starts the task that serves the connection; that task (and
  every request task hypercorn spawns from it) copies the context, so
  `peer_pass_type_id` read inside a request sees the certificate of its own
  connection and never another's.
- The same class makes closing a connection one-sided (see `unwrap`).
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from contextvars import ContextVar

from cryptography import x509
from hypercorn.config import Config

from .pki import pass_type_id_of

_peer_certificate: ContextVar[bytes | None] = ContextVar(
    "wallet_sync_emulator_peer_certificate", default=None
)


class _CapturingSSLObject(ssl.SSLObject):
    """An SSL object that remembers the client certificate it verified."""

    def do_handshake(self) -> None:
        super().do_handshake()
        _peer_certificate.set(self.getpeercert(binary_form=True))

    def unwrap(self) -> None:
        """Send close_notify without waiting for the client's.

        A bidirectional shutdown would keep a closing connection — and so the
        emulator's shutdown — waiting on clients that are idle in another
        thread; TLS 1.3 allows the closing side to stop right after its alert.
        """
        with contextlib.suppress(ssl.SSLWantReadError):
            super().unwrap()


class MutualTlsConfig(Config):
    """A hypercorn config whose TLS connections record their client certificate."""

    def create_ssl_context(self) -> ssl.SSLContext | None:
        context = super().create_ssl_context()
        if context is not None:
            context.sslobject_class = _CapturingSSLObject
        return context


def peer_pass_type_id() -> str | None:
    """The pass type id of the client certificate of the current connection."""
    der = _peer_certificate.get()
    return None if der is None else _pass_type_id(der)


@functools.lru_cache(maxsize=64)
def _pass_type_id(der: bytes) -> str | None:
    return pass_type_id_of(x509.load_der_x509_certificate(der).subject)
