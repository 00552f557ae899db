"""Running both emulators: in a background thread, or in the foreground.

`EmulatorStack.start` is for tests and the demo: it serves both emulators from
a private event loop in a daemon thread and hands back URLs, control clients
and the settings that point the pipeline at them. `serve` is for a terminal or
a CI job: it runs in the foreground until SIGINT/SIGTERM and can write the
settings to a file a POSIX shell sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType

import httpx

from .control import ApnsControl, GoogleControl
from .pki import DEFAULT_PASS_TYPE_ID, TestPki
from .server import EmulatorOptions, EmulatorServers, client_ssl_context
from .walletstore import DEFAULT_ISSUER_ID

logger = logging.getLogger(__name__)

ENV_GOOGLE_API_URL = "WALLET_SYNC_GOOGLE_API_URL"
ENV_GOOGLE_CREDENTIALS_FILE = "WALLET_SYNC_GOOGLE_CREDENTIALS_FILE"
ENV_GOOGLE_ISSUER_ID = "WALLET_SYNC_GOOGLE_ISSUER_ID"
ENV_APNS_URL = "WALLET_SYNC_APNS_URL"
ENV_APNS_CERT_FILE = "WALLET_SYNC_APNS_CERT_FILE"
ENV_APNS_KEY_FILE = "WALLET_SYNC_APNS_KEY_FILE"
ENV_APNS_CA_FILE = "WALLET_SYNC_APNS_CA_FILE"
ENV_APNS_TOPIC = "WALLET_SYNC_APNS_TOPIC"

DEFAULT_GOOGLE_PORT = 8461
DEFAULT_APNS_PORT = 8462
STARTUP_TIMEOUT_S = 15.0
CONTROL_TIMEOUT = httpx.Timeout(10.0)


def settings_for(servers: EmulatorServers) -> dict[str, str]:
    """The pipeline settings that point it at these emulators."""
    pki, google = servers.pki, servers.google
    return {
        ENV_GOOGLE_API_URL: servers.google_url + "/walletobjects/v1",
        ENV_GOOGLE_CREDENTIALS_FILE: str(google.account.key_file),
        ENV_GOOGLE_ISSUER_ID: google.settings.issuer_id,
        ENV_APNS_URL: servers.apns_url,
        ENV_APNS_CERT_FILE: str(pki.client.cert_file),
        ENV_APNS_KEY_FILE: str(pki.client.key_file),
        ENV_APNS_CA_FILE: str(pki.ca_file),
        ENV_APNS_TOPIC: pki.client.pass_type_id,
    }


def write_env_file(path: Path, settings: dict[str, str]) -> None:
    """Write ``KEY='value'`` lines atomically, so a reader never sees half a file."""
    lines = "".join(f"{key}={shlex.quote(value)}\n" for key, value in settings.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(lines)
    os.replace(temporary, path)


class EmulatorStack:
    """Both emulators served from a background thread, with their control clients.

    Use as a context manager, or call `stop` yourself::

        with EmulatorStack.start(tmp_path) as stack:
            run_pipeline(stack.env)
    """

    def __init__(self, servers: EmulatorServers) -> None:
        self._servers = servers
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._run, name="wallet-sync-emulators", daemon=True
        )
        self.google_url = servers.google_url
        self.apns_url = servers.apns_url
        self.pki: TestPki = servers.pki
        self.google = servers.google
        self.apns = servers.apns
        self.env = settings_for(servers)
        self._google_http = httpx.Client(timeout=CONTROL_TIMEOUT)
        self._apns_http = httpx.Client(
            http2=True, verify=self._control_ssl_context(), timeout=CONTROL_TIMEOUT
        )
        self.google_control = GoogleControl(self.google_url, self._google_http)
        self.apns_control = ApnsControl(self.apns_url, self._apns_http)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        google_port: int = 0,
        apns_port: int = 0,
        issuer_id: str = DEFAULT_ISSUER_ID,
        pass_type_id: str = DEFAULT_PASS_TYPE_ID,
        expired_client_cert: bool = False,
        latency_ms: float = 0.0,
        token_lifetime_s: int = 3599,
    ) -> EmulatorStack:
        """Start both emulators; port 0 picks a free port (see `google_url`).

        `expired_client_cert` makes the settings point at a client certificate
        that expired yesterday; `latency_ms` delays every API call.
        """
        options = EmulatorOptions(
            host=host,
            google_port=google_port,
            apns_port=apns_port,
            issuer_id=issuer_id,
            pass_type_id=pass_type_id,
            expired_client_cert=expired_client_cert,
            latency_ms=latency_ms,
            token_lifetime_s=token_lifetime_s,
        )
        stack = cls(EmulatorServers(workdir, options))
        stack._thread.start()
        stack._wait_until_ready()
        return stack

    def _control_ssl_context(self) -> ssl.SSLContext:
        """The control client's TLS context; valid even when the pipeline's is not.

        With ``expired_client_cert`` the settings name a certificate the
        server refuses, so the control client gets a fresh one of its own.
        """
        client = self.pki.client
        if self._servers.options.expired_client_cert:
            client = self.pki.issue_client_certificate(
                client.pass_type_id, name="control"
            )
        return client_ssl_context(self.pki, client)

    def client_ssl_context(self) -> ssl.SSLContext:
        """A TLS context for talking to the APNs emulator as the pipeline would."""
        return client_ssl_context(self.pki)

    def stop(self) -> None:
        """Shut both servers down and wait for the thread to finish."""
        self._google_http.close()
        self._apns_http.close()
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(timeout=STARTUP_TIMEOUT_S)
        self._servers.close_sockets()

    def __enter__(self) -> EmulatorStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:
            self._error = error
            logger.error("emulators.crashed", exc_info=error)
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        await self._servers.run(self._stop, self._ready.set)

    def _wait_until_ready(self) -> None:
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            self.stop()
            raise RuntimeError("the emulators did not start in time")
        if self._error is not None or not self._thread.is_alive():
            self.stop()
            raise RuntimeError("the emulators failed to start") from self._error


def serve(
    host: str,
    google_port: int,
    apns_port: int,
    env_file: Path | None,
    workdir: Path,
    *,
    issuer_id: str = DEFAULT_ISSUER_ID,
    pass_type_id: str = DEFAULT_PASS_TYPE_ID,
    latency_ms: float = 0.0,
    public_host: str | None = None,
) -> None:
    """Serve both emulators in the foreground until SIGINT or SIGTERM.

    With `env_file`, the pipeline settings are written there once both
    servers accept connections, so a script can wait for the file to appear.
    `public_host` is the name other machines reach them by (URLs in the
    settings, the APNs server certificate), when it is not `host`.
    """
    options = EmulatorOptions(
        host=host,
        public_host=public_host,
        google_port=google_port,
        apns_port=apns_port,
        issuer_id=issuer_id,
        pass_type_id=pass_type_id,
        latency_ms=latency_ms,
    )
    servers = EmulatorServers(workdir, options)
    try:
        asyncio.run(_serve_until_signal(servers, env_file))
    finally:
        servers.close_sockets()


async def _serve_until_signal(servers: EmulatorServers, env_file: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def announce() -> None:
        settings = settings_for(servers)
        if env_file is not None:
            write_env_file(env_file, settings)
        print(f"Google Wallet emulator: {servers.google_url}", flush=True)
        print(f"APNs emulator:          {servers.apns_url}", flush=True)
        for key, value in settings.items():
            print(f"{key}={shlex.quote(value)}", flush=True)

    await servers.run(stop, announce)
