"""Is everything a run needs in place? Each check says what is wrong in words
an operator can act on.

Checks: the database (reachable, schema migrated), the broker (Redis
reachable; queue depths, with dead letters; worker processes alive by their
heartbeats), Google Wallet (key file
loadable, a token obtainable, the issuer answering) and APNs (certificate
and key loadable and matching, the certificate's pass type against
``WALLET_SYNC_APNS_TOPIC`` and the cards' pass types, days until it expires,
and a TLS handshake with APNs).

A failed check carries a cause: ``unavailable`` (a service cannot be
reached), ``not_ready`` (the schema is behind) or ``misconfigured`` (a
setting, key or certificate is wrong). Any failed check means a run would
fail; a warning means it would not, yet.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from sqlalchemy import make_url, select
from sqlalchemy.exc import SQLAlchemyError

from pipeline.db import session_scope
from pipeline.deadletters import DeadLetterQueue
from pipeline.errors import TransientWalletError, WalletError
from pipeline.migrate import pending_revisions
from pipeline.models import LoyaltyCard
from pipeline.settings import Settings
from pipeline.wallets._http import transport_errors
from pipeline.wallets.apple import client_tls_context
from pipeline.wiring import google_client, http_timeout

#: A certificate closer than this to its expiry is a warning.
EXPIRY_WARNING_DAYS = 30
#: A device token no device has: the APNs probe is a GET, which APNs answers
#: 405 after the TLS handshake accepted the certificate; nothing is pushed.
PROBE_TOKEN = "0" * 64


class Level(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


class Cause(enum.StrEnum):
    UNAVAILABLE = "unavailable"
    NOT_READY = "not_ready"
    MISCONFIGURED = "misconfigured"


@dataclass(frozen=True)
class Check:
    """One thing checked: its name, how it went, and what to do about it."""

    name: str
    level: Level
    detail: str
    cause: Cause | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ok(name: str, detail: str, **data: Any) -> Check:
    return Check(name, Level.OK, detail, data=data)


def warning(name: str, detail: str, **data: Any) -> Check:
    return Check(name, Level.WARNING, detail, data=data)


def failed(
    name: str, detail: str, cause: Cause = Cause.MISCONFIGURED, **data: Any
) -> Check:
    return Check(name, Level.FAILED, detail, cause, data)


def check_all(settings: Settings, now: dt.datetime | None = None) -> list[Check]:
    """Every check, in the order a run needs them."""
    now = now or dt.datetime.now(dt.UTC)
    database = check_database(settings)
    database_up = all(check.level is not Level.FAILED for check in database)
    pass_types = _card_pass_types(settings) if database_up else None
    return [
        *database,
        *check_broker(settings),
        *check_google(settings),
        *check_apple(settings, now, pass_types),
    ]


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0].rstrip(".") if text else type(error).__name__


def check_database(settings: Settings) -> list[Check]:
    where = _safe_url(settings.database_url)
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:
        return [
            failed(
                "database",
                f"the SQLite file {missing} does not exist; "
                "run `wallet-sync db upgrade` to create it",
                Cause.NOT_READY,
            )
        ]
    try:
        current, head = pending_revisions(settings.database_url)
    except SQLAlchemyError as error:
        return [
            failed(
                "database",
                f"cannot reach the database at {where}: {_first_line(error)}; "
                "check WALLET_SYNC_DATABASE_URL and that the server is running",
                Cause.UNAVAILABLE,
            )
        ]
    if current != head:
        state = f"is at revision {current}" if current else "has no schema"
        return [
            failed(
                "database",
                f"the database {state}, this version needs {head}; "
                "run `wallet-sync db upgrade`",
                Cause.NOT_READY,
                revision=current,
                head=head,
            )
        ]
    return [ok("database", f"{where} reachable, schema at {head} (newest)")]


def _missing_sqlite_file(database_url: str) -> str | None:
    """The file of a SQLite URL that does not exist (connecting would create it)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return None if Path(str(url.database)).exists() else str(url.database)


def _card_pass_types(settings: Settings) -> set[str] | None:
    """The Apple pass types cards use; None when they cannot be read."""
    try:
        with session_scope(settings.database_url) as session:
            rows = session.scalars(
                select(LoyaltyCard.apple_pass_type_id)
                .where(LoyaltyCard.apple_pass_type_id.is_not(None))
                .distinct()
            )
            return {str(row) for row in rows}
    except SQLAlchemyError:
        return None


def check_broker(settings: Settings) -> list[Check]:
    dlq = DeadLetterQueue.from_settings(settings)
    where = _safe_url(settings.broker_url)
    try:
        dlq.client.ping()
        depths = dlq.depths()
        heartbeats = dlq.heartbeats()
    except redis.RedisError as error:
        return [
            failed(
                "broker",
                f"cannot reach Redis at {where}: {str(error).rstrip('.')}; check "
                "WALLET_SYNC_BROKER_URL and that Redis is running",
                Cause.UNAVAILABLE,
            )
        ]
    finally:
        dlq.client.close()
    broker = ok(
        "broker",
        f"Redis at {where} reachable (namespace {settings.broker_namespace})",
    )
    summary = "; ".join(
        f"{queue}: {d['queued']} queued, {d['in_flight']} in flight, "
        f"{d['delayed']} delayed, {d['dead']} dead"
        for queue, d in depths.items()
    )
    dead = sum(d["dead"] for d in depths.values())
    workers = check_workers(settings, heartbeats, depths)
    if dead:
        advice = f"{summary}. {dead} dead message(s): see `wallet-sync dlq list`"
        return [broker, warning("queues", advice, depths=depths), workers]
    return [broker, ok("queues", summary, depths=depths), workers]


def check_workers(
    settings: Settings,
    heartbeats: dict[str, dt.datetime],
    depths: dict[str, dict[str, int]],
    now: dt.datetime | None = None,
) -> Check:
    """Worker processes that called Redis within the heartbeat timeout.

    Dramatiq's own test of a live process: one silent longer than the
    timeout is presumed dead and its messages are handed to others.
    """
    now = now or dt.datetime.now(dt.UTC)
    timeout = dt.timedelta(milliseconds=settings.heartbeat_timeout_ms)
    live = sorted(seen for seen in heartbeats.values() if now - seen <= timeout)
    waiting = sum(d["queued"] + d["delayed"] + d["in_flight"] for d in depths.values())
    window = f"{timeout.total_seconds():g} s"
    data: dict[str, Any] = {"live": len(live), "waiting_messages": waiting}
    if live:
        return ok(
            "workers",
            f"{len(live)} worker process(es) seen in the last {window} "
            "(WALLET_SYNC_HEARTBEAT_TIMEOUT_MS)",
            **data,
        )
    last = max(heartbeats.values(), default=None)
    seen = f"; the last one was seen {_ago(now - last)} ago" if last else ""
    start = (
        "start them with `dramatiq workers` (same WALLET_SYNC_* settings, "
        f"namespace {settings.broker_namespace})"
    )
    if waiting:
        return failed(
            "workers",
            f"no worker process seen in the last {window}{seen}, and {waiting} "
            f"message(s) wait: runs will not progress; {start}",
            Cause.UNAVAILABLE,
            **data,
        )
    return warning(
        "workers",
        f"no worker process seen in the last {window}{seen}: the next run will "
        f"wait; {start}",
        **data,
    )


def _ago(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def check_google(settings: Settings) -> list[Check]:
    path = settings.google_credentials_file
    if path is None:
        return [
            failed(
                "google.credentials",
                "WALLET_SYNC_GOOGLE_CREDENTIALS_FILE is not set: no Google Wallet "
                "card can sync; point it at the service account's JSON key",
            )
        ]
    if not path.is_file():
        return [
            failed(
                "google.credentials",
                f"the service-account key file {path} does not exist; point "
                "WALLET_SYNC_GOOGLE_CREDENTIALS_FILE at the JSON key from Google "
                "Cloud",
            )
        ]
    try:
        client = google_client(settings)
    except WalletError as error:
        return [failed("google.credentials", str(error))]
    checks = [ok("google.credentials", f"service-account key {path} loaded")]
    try:
        checks.append(
            _wallet_check("google.token", client.check_access, _token_words(path))
        )
        if checks[-1].level is Level.OK:
            checks.append(_issuer_check(settings, client.check_issuer))
    finally:
        client.close()
    return checks


def _token_words(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"a token was issued to {info['client_email']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a token was issued"


def _issuer_check(settings: Settings, check_issuer: Callable[[str], None]) -> Check:
    issuer = settings.google_issuer_id
    if not issuer:
        return failed(
            "google.issuer",
            "WALLET_SYNC_GOOGLE_ISSUER_ID is not set; use the issuer id of the "
            "Google Pay & Wallet Console",
        )
    return _wallet_check(
        "google.issuer",
        lambda: check_issuer(issuer),
        f"issuer {issuer} answers the service account",
    )


def _wallet_check(name: str, call: Callable[[], Any], success: str) -> Check:
    try:
        call()
    except WalletError as error:
        cause = (
            Cause.UNAVAILABLE
            if isinstance(error, TransientWalletError)
            else Cause.MISCONFIGURED
        )
        return failed(name, str(error), cause)
    return ok(name, success)


def check_apple(
    settings: Settings, now: dt.datetime, pass_types: set[str] | None
) -> list[Check]:
    cert_file, key_file = settings.apns_cert_file, settings.apns_key_file
    if cert_file is None or key_file is None:
        return [
            failed(
                "apple.certificate",
                "WALLET_SYNC_APNS_CERT_FILE and WALLET_SYNC_APNS_KEY_FILE must "
                "both be set: no Apple Wallet pass can be updated",
            )
        ]
    loaded = _load_pair(cert_file, key_file)
    if isinstance(loaded, Check):
        return [loaded]
    certificate = loaded
    return [
        ok("apple.certificate", f"{cert_file} and its key {key_file} match"),
        _topic_check(settings, certificate, pass_types),
        _expiry_check(certificate, cert_file, now),
        _apns_probe(settings),
    ]


def _load_pair(cert_file: Path, key_file: Path) -> x509.Certificate | Check:
    """The certificate, once it and its key load and belong together."""
    for path, what in ((cert_file, "certificate"), (key_file, "private key")):
        if not path.is_file():
            return failed("apple.certificate", f"the APNs {what} {path} does not exist")
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except ValueError as error:
        return failed(
            "apple.certificate", f"{cert_file} is not a PEM certificate: {error}"
        )
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    except (ValueError, TypeError) as error:
        return failed(
            "apple.certificate",
            f"cannot read the private key {key_file} (it must be an unencrypted "
            f"PEM key): {error}",
        )
    if _public_der(key.public_key()) != _public_der(certificate.public_key()):
        return failed(
            "apple.certificate",
            f"the key {key_file} does not belong to the certificate {cert_file}",
        )
    return certificate


def _public_der(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )


def pass_type_id_of(certificate: x509.Certificate) -> str | None:
    """The pass type id a Pass Type ID certificate is for: UID, else CN."""
    subject = certificate.subject
    for attribute in subject.get_attributes_for_oid(NameOID.USER_ID):
        return str(attribute.value)
    prefix = "Pass Type ID: "
    for attribute in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        common_name = str(attribute.value)
        if common_name.startswith(prefix):
            return common_name[len(prefix) :]
    return None


def _topic_check(
    settings: Settings, certificate: x509.Certificate, pass_types: set[str] | None
) -> Check:
    topic = pass_type_id_of(certificate)
    configured = settings.apns_topic
    if topic is None:
        return warning(
            "apple.topic",
            "the certificate names no pass type id (no UID, no 'Pass Type ID:' "
            "common name); is it a Pass Type ID certificate?",
        )
    if configured and configured != topic:
        return failed(
            "apple.topic",
            f"the certificate is for pass type {topic} but WALLET_SYNC_APNS_TOPIC "
            f"is {configured}: APNs refuses pushes for other topics; install the "
            f"certificate of {configured} or fix the setting",
            certificate_topic=topic,
        )
    others = sorted((pass_types or set()) - {topic})
    if others:
        return failed(
            "apple.topic",
            f"cards use pass type(s) {', '.join(others)} but the certificate is "
            f"for {topic} only: their pushes will be refused",
            certificate_topic=topic,
        )
    if not configured:
        return warning(
            "apple.topic",
            f"WALLET_SYNC_APNS_TOPIC is not set; the certificate is for {topic}",
            certificate_topic=topic,
        )
    return ok("apple.topic", f"certificate and setting agree on {topic}")


def _expiry_check(
    certificate: x509.Certificate, cert_file: Path, now: dt.datetime
) -> Check:
    not_after = certificate.not_valid_after_utc
    not_before = certificate.not_valid_before_utc
    days = (not_after - now).days
    date = not_after.date().isoformat()
    data: dict[str, Any] = {"not_after": not_after.isoformat(), "days_left": days}
    if now >= not_after:
        ago = (now - not_after).days
        return failed(
            "apple.expiry",
            f"the APNs certificate {cert_file} expired on {date} ({ago} day(s) "
            "ago); renew the Pass Type ID certificate in the Apple Developer "
            "portal and replace the file",
            **data,
        )
    if now < not_before:
        return failed(
            "apple.expiry",
            f"the APNs certificate is not valid before {not_before.isoformat()}; "
            "check this host's clock",
            **data,
        )
    if days < EXPIRY_WARNING_DAYS:
        return warning(
            "apple.expiry",
            f"the APNs certificate expires on {date}, in {days} day(s); renew it",
            **data,
        )
    return ok("apple.expiry", f"valid until {date} ({days} days)", **data)


def _dropped_after_connect(error: BaseException) -> bool:
    """The connection was made, then closed by the server before any answer."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, httpx.ConnectError | httpx.TimeoutException):
            return False
        seen = seen.__cause__ or seen.__context__
    return True


def _apns_probe(settings: Settings) -> Check:
    """A TLS handshake with APNs presenting the certificate, and one GET."""
    assert settings.apns_cert_file is not None
    assert settings.apns_key_file is not None
    url = f"{settings.apns_url.rstrip('/')}/3/device/{PROBE_TOKEN}"
    try:
        tls = client_tls_context(
            settings.apns_cert_file, settings.apns_key_file, settings.apns_ca_file
        )
        with (
            httpx.Client(
                http2=True, verify=tls, timeout=http_timeout(settings)
            ) as http,
            transport_errors("apple", None),
        ):
            response = http.get(url)
    except WalletError as error:
        if isinstance(error, TransientWalletError) and _dropped_after_connect(error):
            # With TLS 1.3 a refused client certificate shows up as the server
            # closing the connection right after the handshake.
            return failed(
                "apple.connection",
                f"APNs closed the connection after the TLS handshake ({error}): "
                "it refuses the certificate (expired, revoked or not Apple's?)",
            )
        cause = (
            Cause.UNAVAILABLE
            if isinstance(error, TransientWalletError)
            else Cause.MISCONFIGURED
        )
        return failed("apple.connection", str(error), cause)
    if response.status_code == 403:
        return failed(
            "apple.connection",
            f"APNs refused the certificate ({response.text.strip()[:120]})",
        )
    return ok(
        "apple.connection",
        f"{settings.apns_url} accepted the certificate over {response.http_version}",
    )
