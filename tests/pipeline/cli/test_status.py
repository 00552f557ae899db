"""``wallet-sync status``: each cause named, each exit code as documented."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from pipeline import health
from pipeline.cli import Exit
from pipeline.db import session_scope
from pipeline.emulators import EmulatorStack, generate_pki
from pipeline.models import LoyaltyCard
from tests.conftest import drop_schema, fresh_schema_url
from tests.pipeline.cli.conftest import Cli, environment_of
from tests.pipeline.cli.test_cards import wallet_sync


def checks_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in status["checks"]}


def failed_checks(status: dict[str, Any]) -> set[str]:
    return {c["name"] for c in status["checks"] if c["level"] == "failed"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_status_passes_against_the_emulators(cli: Cli) -> None:
    """Every check runs and none fails; queue depths come with the answer."""
    code, status = cli.json("status")

    assert code == Exit.OK, status
    assert status["ok"] is True
    checks = checks_of(status)
    assert set(checks) == {
        "database",
        "broker",
        "queues",
        "workers",
        "google.credentials",
        "google.token",
        "google.issuer",
        "apple.certificate",
        "apple.topic",
        "apple.expiry",
        "apple.connection",
    }
    assert failed_checks(status) == set()
    depths = checks["queues"]["data"]["depths"]
    assert set(depths) == {"wallet-sync", "wallet-sync-control"}
    assert set(depths["wallet-sync"]) == {"queued", "in_flight", "delayed", "dead"}
    assert checks["apple.expiry"]["data"]["days_left"] > 300
    assert checks["workers"]["level"] == "ok"
    assert checks["workers"]["data"]["live"] >= 1  # the session's worker
    assert "ready" in cli("status").stdout


def test_a_missing_google_key_file_is_named(cli: Cli, tmp_path: Path) -> None:
    """Exit 1; the detail names the file that is not there."""
    missing = tmp_path / "service-account.json"

    code, status = cli.json("status", WALLET_SYNC_GOOGLE_CREDENTIALS_FILE=str(missing))

    assert code == Exit.FAILED
    assert failed_checks(status) == {"google.credentials"}
    detail = checks_of(status)["google.credentials"]["detail"]
    assert f"the service-account key file {missing} does not exist" in detail
    text = cli("status", WALLET_SYNC_GOOGLE_CREDENTIALS_FILE=str(missing)).stdout
    assert "a run would fail: google.credentials (exit 1)" in text


def test_an_expired_apns_certificate_is_named(cli: Cli, tmp_path: Path) -> None:
    """The expiry check says when it expired; APNs also refuses the handshake."""
    with EmulatorStack.start(tmp_path, expired_client_cert=True) as stack:
        code, status = cli.json("status", **stack.env)

    assert code == Exit.FAILED
    assert failed_checks(status) == {"apple.expiry", "apple.connection"}
    expiry = checks_of(status)["apple.expiry"]
    assert "the APNs certificate" in expiry["detail"]
    assert "expired on" in expiry["detail"]
    assert expiry["data"]["days_left"] < 0
    assert "refuses the certificate" in checks_of(status)["apple.connection"]["detail"]


def test_redis_down_is_named_and_exits_unavailable(cli: Cli) -> None:
    """Exit 4 with the broker URL; the other checks still run."""
    url = f"redis://127.0.0.1:{closed_port()}/0"

    code, status = cli.json("status", WALLET_SYNC_BROKER_URL=url)

    assert code == Exit.UNAVAILABLE
    assert failed_checks(status) == {"broker"}
    assert f"cannot reach Redis at {url}" in checks_of(status)["broker"]["detail"]
    assert "google.issuer" in checks_of(status)


@pytest.fixture
def unmigrated_url(postgres_admin_url: str) -> Iterator[str]:
    schema = f"ws_status_{uuid.uuid4().hex[:10]}"
    yield fresh_schema_url(postgres_admin_url, schema)
    drop_schema(postgres_admin_url, schema)


def test_a_database_without_schema_or_server_is_named(
    cli: Cli, unmigrated_url: str
) -> None:
    """No schema: exit 5 and the upgrade command; no server: exit 4."""
    code, status = cli.json("status", WALLET_SYNC_DATABASE_URL=unmigrated_url)
    assert code == Exit.NOT_READY
    assert "run `wallet-sync db upgrade`" in checks_of(status)["database"]["detail"]

    down = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"
    code, status = cli.json("status", WALLET_SYNC_DATABASE_URL=down)
    assert code == Exit.UNAVAILABLE
    assert "cannot reach the database" in checks_of(status)["database"]["detail"]


def test_wrong_google_issuer_and_refused_token_are_named(cli: Cli) -> None:
    """A foreign issuer id fails the issuer check; a refused token the token's."""
    code, status = cli.json(
        "status", WALLET_SYNC_GOOGLE_ISSUER_ID="3388000000099999999"
    )
    assert code == Exit.FAILED
    assert failed_checks(status) == {"google.issuer"}

    cli.pipeline.google.add_fault(target="token", status=400)
    code, status = cli.json("status")
    assert code == Exit.FAILED
    assert failed_checks(status) == {"google.token"}
    assert "refused a token" in checks_of(status)["google.token"]["detail"]


def test_a_key_of_another_certificate_and_a_wrong_topic_are_named(
    cli: Cli, tmp_path: Path
) -> None:
    """Mismatched key: certificate check fails; topic setting: topic check."""
    other = generate_pki(tmp_path / "other")

    code, status = cli.json(
        "status", WALLET_SYNC_APNS_KEY_FILE=str(other.client.key_file)
    )
    assert code == Exit.FAILED
    assert (
        "does not belong to the certificate"
        in (checks_of(status)["apple.certificate"]["detail"])
    )

    code, status = cli.json("status", WALLET_SYNC_APNS_TOPIC="pass.com.example.other")
    assert code == Exit.FAILED
    assert failed_checks(status) == {"apple.topic"}
    assert "pass.com.example.other" in checks_of(status)["apple.topic"]["detail"]


def test_cards_of_a_pass_type_without_certificate_fail_the_topic_check(
    cli: Cli,
) -> None:
    """A card whose pass type the certificate does not cover would be refused."""
    (card,) = cli.cards(1, apple=True)
    with session_scope(cli.pipeline.settings.database_url) as session:
        session.execute(
            update(LoyaltyCard)
            .where(LoyaltyCard.id == card.id)
            .values(apple_pass_type_id="pass.com.example.gift")
        )

    code, status = cli.json("status")

    assert code == Exit.FAILED
    assert "pass.com.example.gift" in checks_of(status)["apple.topic"]["detail"]


def test_a_certificate_close_to_expiry_is_a_warning(cli: Cli) -> None:
    """Under 30 days left: a warning that does not fail the status."""
    settings = cli.pipeline.settings
    checks = health.check_apple(settings, dt.datetime.now(dt.UTC), None)
    not_after = dt.datetime.fromisoformat(
        next(c for c in checks if c.name == "apple.expiry").data["not_after"]
    )

    later = health.check_apple(settings, not_after - dt.timedelta(days=10), None)

    expiry = next(c for c in later if c.name == "apple.expiry")
    assert expiry.level is health.Level.WARNING
    assert "in 10 day(s)" in expiry.detail


@pytest.fixture
def workerless(cli: Cli) -> Iterator[str]:
    """A broker namespace no worker polls; its keys are deleted afterwards."""
    namespace = f"ws-idle-{uuid.uuid4().hex[:8]}"
    yield namespace
    client = cli.pipeline.broker.client
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)


def test_no_live_worker_fails_status_while_messages_wait(
    cli: Cli, workerless: str
) -> None:
    """Exit 4 naming the waiting messages; with an empty queue only a warning."""
    client = cli.pipeline.broker.client
    queue = cli.pipeline.settings.queue_name
    client.zadd(f"{workerless}:__heartbeats__", {"gone": 1_000})

    code, status = cli.json("status", WALLET_SYNC_BROKER_NAMESPACE=workerless)
    assert code == Exit.OK
    workers = checks_of(status)["workers"]
    assert (workers["level"], workers["data"]["live"]) == ("warning", 0)
    assert "`dramatiq workers`" in workers["detail"]

    client.rpush(f"{workerless}:{queue}", "some-message")
    code, status = cli.json("status", WALLET_SYNC_BROKER_NAMESPACE=workerless)

    assert code == Exit.UNAVAILABLE
    assert failed_checks(status) == {"workers"}
    detail = checks_of(status)["workers"]["detail"]
    assert "no worker process seen in the last 15 s" in detail
    assert "1 message(s) wait: runs will not progress" in detail
    assert "the last one was seen" in detail
    text = cli("status", WALLET_SYNC_BROKER_NAMESPACE=workerless).stdout
    assert "a run would fail: workers (exit 4)" in text


def test_a_command_that_only_sends_is_not_counted_as_a_worker(
    cli: Cli, workerless: str
) -> None:
    """sync-card leaves no heartbeat behind, so status still sees no worker."""
    (card,) = cli.cards(1)
    env = {
        **os.environ,
        **environment_of(cli.pipeline.settings),
        "WALLET_SYNC_BROKER_NAMESPACE": workerless,
    }

    done = wallet_sync(env, "sync-card", str(card.id))

    assert done.returncode == Exit.OK, done.stderr
    client = cli.pipeline.broker.client
    assert client.zcard(f"{workerless}:__heartbeats__") == 0
    code, status = cli.json("status", WALLET_SYNC_BROKER_NAMESPACE=workerless)
    assert code == Exit.UNAVAILABLE
    assert failed_checks(status) == {"workers"}
