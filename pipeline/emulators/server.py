"""Both emulators served by hypercorn from one event loop.

Listening sockets are bound before hypercorn starts, so port 0 ("any free
port") is resolved up front: the real ports go into the generated service
account key (its ``token_uri``) and into the settings handed to the pipeline,
and a client that connects while the servers are still starting just waits in
the listen backlog instead of being refused.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config
from hypercorn.typing import Framework
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .apns import ApnsEmulator, ApnsSettings
from .google import GoogleEmulator, GoogleSettings
from .mtls import MutualTlsConfig
from .pki import DEFAULT_PASS_TYPE_ID, ClientCertificate, TestPki, generate_pki
from .walletstore import DEFAULT_ISSUER_ID

logger = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT", bound=Config)

LISTEN_BACKLOG = 1024
GRACEFUL_TIMEOUT_S = 1.0
KEEP_ALIVE_TIMEOUT_S = 75.0


@dataclass(frozen=True)
class EmulatorOptions:
    """Everything that shapes a pair of emulators, with test-friendly defaults."""

    host: str = "127.0.0.1"
    #: The name clients use, when it is not ``host`` (``0.0.0.0`` in a container).
    public_host: str | None = None
    google_port: int = 0
    apns_port: int = 0
    issuer_id: str = DEFAULT_ISSUER_ID
    pass_type_id: str = DEFAULT_PASS_TYPE_ID
    expired_client_cert: bool = False
    latency_ms: float = 0.0
    token_lifetime_s: int = 3599


class EmulatorServers:
    """Bound sockets, generated credentials and apps, ready to be served."""

    def __init__(self, workdir: Path, options: EmulatorOptions) -> None:
        self.options = options
        self._google_socket = _listen(options.host, options.google_port)
        self._apns_socket = _listen(options.host, options.apns_port)
        try:
            shown = options.public_host or options.host
            self.google_url = _url("http", shown, self._google_socket)
            self.apns_url = _url("https", shown, self._apns_socket)
            self.pki = _pki(workdir / "apns", options)
            self.google = GoogleEmulator(
                GoogleSettings(
                    issuer_id=options.issuer_id,
                    token_lifetime_s=options.token_lifetime_s,
                    default_latency_ms=options.latency_ms,
                ),
                workdir / "google" / "service-account.json",
                self.google_url,
            )
            self.apns = ApnsEmulator(
                ApnsSettings(default_latency_ms=options.latency_ms)
            )
            self._google_config = _tuned(Config())
            self._apns_config = _apns_config(self.pki)
        except BaseException:
            self.close_sockets()
            raise

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None]) -> None:
        """Serve both emulators until `stop` is set; `on_ready` once both started."""
        self._google_config.bind = [_hand_over(self._google_socket)]
        self._apns_config.bind = [_hand_over(self._apns_socket)]
        started = [asyncio.Event(), asyncio.Event()]
        servers = [
            _serve(
                _signalling(self.google.app(), started[0]), self._google_config, stop
            ),
            _serve(_signalling(self.apns.app(), started[1]), self._apns_config, stop),
        ]
        tasks = [asyncio.ensure_future(server) for server in servers]
        waiting = asyncio.ensure_future(asyncio.gather(*(e.wait() for e in started)))
        watched: list[asyncio.Future[Any]] = [waiting, *tasks]
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        if waiting.done():
            on_ready()
        else:
            waiting.cancel()
            stop.set()
        await asyncio.gather(*tasks)

    def close_sockets(self) -> None:
        """Release sockets that were never handed to hypercorn."""
        for sock in (self._google_socket, self._apns_socket):
            if sock.fileno() != -1:
                sock.close()


def client_ssl_context(
    pki: TestPki, client: ClientCertificate | None = None
) -> ssl.SSLContext:
    """A client context trusting the emulator CA and presenting a client cert."""
    client = client or pki.client
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    context.load_cert_chain(str(client.cert_file), str(client.key_file))
    return context


def _pki(directory: Path, options: EmulatorOptions) -> TestPki:
    named = (options.public_host or options.host, options.host)
    hosts = tuple(dict.fromkeys((*named, "127.0.0.1", "localhost", "::1")))
    return generate_pki(
        directory,
        pass_type_id=options.pass_type_id,
        expired_client=options.expired_client_cert,
        server_hosts=hosts,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _url(scheme: str, host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _hand_over(sock: socket.socket) -> str:
    """A hypercorn bind for `sock`; hypercorn owns (and closes) it from now on."""
    return f"fd://{sock.detach()}"


def _tuned(config: ConfigT) -> ConfigT:
    """Settings both servers share: long-lived connections, quick shutdown.

    Hypercorn closes a connection after 1,000 requests by default; APNs
    clients keep one HTTP/2 connection for a whole run and treat a GOAWAY in
    the middle of a burst as a connection failure, so the limit is lifted.
    """
    config.backlog = LISTEN_BACKLOG
    config.graceful_timeout = GRACEFUL_TIMEOUT_S
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_S
    config.keep_alive_max_requests = 2**62
    config.accesslog = None
    config.errorlog = logger
    return config


def _apns_config(pki: TestPki) -> MutualTlsConfig:
    """Hypercorn config for APNs: HTTP/2 only (ALPN), client certificates required.

    The SSL context is built once here so that unusable certificate files fail
    the start instead of the first connection.
    """
    config = _tuned(MutualTlsConfig())
    config.certfile = str(pki.server_cert_file)
    config.keyfile = str(pki.server_key_file)
    config.ca_certs = str(pki.ca_file)
    config.verify_mode = ssl.CERT_REQUIRED
    config.alpn_protocols = ["h2"]
    config.create_ssl_context()
    return config


async def _serve(app: ASGIApp, config: Config, stop: asyncio.Event) -> None:
    framework = cast(Framework, app)
    await hypercorn_serve(framework, config, shutdown_trigger=stop.wait, mode="asgi")


def _signalling(app: ASGIApp, started: asyncio.Event) -> ASGIApp:
    """Wrap `app` so that `started` is set when its lifespan startup completes."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_and_signal(message: Message) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                started.set()

        await app(scope, receive, send_and_signal)

    return wrapped
