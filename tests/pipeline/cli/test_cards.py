"""``wallet-sync sync-card``: the finder's path for named cards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from pipeline.cli import Exit
from pipeline.db import session_scope
from pipeline.models import SyncRun
from tests.pipeline.cli.conftest import Cli, environment_of

WALLET_SYNC = str(Path(sys.executable).parent / "wallet-sync")


def wallet_sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command in a process of its own, asked for JSON."""
    return subprocess.run(
        [WALLET_SYNC, *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sync_card_waits_and_prints_each_cards_outcome(cli: Cli) -> None:
    """One card syncs, one is rejected: kind, message, attempts; exit 1."""
    fine, rejected = cli.cards(2)
    cli.pipeline.google.add_fault(target=str(rejected.google_object_id), status=400)

    code, outcome = cli.json("sync-card", str(fine.id), str(rejected.id), "--wait")

    assert code == Exit.FAILED
    assert outcome["closed"] is True
    cards = {card["card_id"]: card for card in outcome["cards"]}
    assert cards[fine.id]["status"] == "synced"
    assert cards[rejected.id]["status"] == "failed"
    assert cards[rejected.id]["error_kind"] == "rejected"
    assert cards[rejected.id]["attempts"] == 1
    assert "HTTP 400" in cards[rejected.id]["error_message"]
    stored = cli.pipeline.google.stored(str(fine.google_object_id))
    assert stored is not None
    assert stored["loyaltyPoints"]["balance"] == {"int": fine.points_balance}


def test_sync_card_without_wait_prints_the_run_to_follow(cli: Cli) -> None:
    """The run id comes back at once; the run is a trigger=cards run."""
    (card,) = cli.cards(1)

    code, enqueued = cli.json("sync-card", str(card.id))
    cli.pipeline.wait_idle()

    assert code == Exit.OK
    assert enqueued["card_ids"] == [card.id]
    code, report = cli.json("report", str(enqueued["run_id"]))
    assert report["trigger"] == "cards"
    assert report["cards_synced"] == 1


def test_unknown_or_walletless_cards_are_named_and_nothing_is_enqueued(
    cli: Cli,
) -> None:
    """Exit 3 naming both bad ids; no run is opened, no message sent."""
    (walletless,) = cli.cards(1, google=False, apple=False)
    (good,) = cli.cards(1)

    result = cli("sync-card", str(good.id), "424242", str(walletless.id), "--wait")

    assert result.exit_code == Exit.NOT_FOUND
    assert "card 424242 does not exist" in result.stderr
    assert f"card {walletless.id} has no Google Wallet object" in result.stderr
    with session_scope(cli.pipeline.settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0
    assert cli.pipeline.requests("google", str(good.google_object_id)) == []


def test_inline_sync_runs_in_process_with_the_retry_schedule(cli: Cli) -> None:
    """--inline needs no worker: a transient 503 is retried, the run reported."""
    flaky, rejected = cli.cards(2)
    google = cli.pipeline.google
    google.add_fault(target=str(flaky.google_object_id), status=503, times=1)
    google.add_fault(target=str(rejected.google_object_id), status=400)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WALLET_SYNC_")},
        **environment_of(cli.pipeline.settings),
        # Nothing of this run may reach the session's Redis or its worker.
        "WALLET_SYNC_BROKER_URL": "redis://127.0.0.1:1/0",
    }

    done = wallet_sync(env, "sync-card", str(flaky.id), str(rejected.id), "--inline")

    assert done.returncode == Exit.FAILED, done.stderr
    cards = {card["card_id"]: card for card in json.loads(done.stdout)["cards"]}
    assert (cards[flaky.id]["status"], cards[flaky.id]["attempts"]) == ("synced", 2)
    assert cards[rejected.id]["error_kind"] == "rejected"
    flaky_calls = cli.pipeline.requests("google", str(flaky.google_object_id))
    assert [call["status"] for call in flaky_calls][:1] == [503]
    _, report = cli.json("report", "--latest")
    assert report["trigger"] == "inline"
    assert report["failed_card_ids"] == [rejected.id]


def test_no_retry_makes_an_inline_sync_fail_at_the_first_error(cli: Cli) -> None:
    """--no-retry gives one attempt; without --inline it is a usage error."""
    (flaky,) = cli.cards(1)
    cli.pipeline.google.add_fault(
        target=str(flaky.google_object_id), status=503, times=1
    )

    assert cli("sync-card", str(flaky.id), "--no-retry").exit_code == Exit.USAGE
    env = {**os.environ, **environment_of(cli.pipeline.settings)}
    done = wallet_sync(env, "sync-card", str(flaky.id), "--inline", "--no-retry")

    assert done.returncode == Exit.FAILED, done.stderr
    (card,) = json.loads(done.stdout)["cards"]
    assert (card["error_kind"], card["attempts"]) == ("server_error", 1)


def test_an_inline_sync_that_times_out_closes_its_run_with_the_card_lost(
    cli: Cli,
) -> None:
    """Its deadline would die with the command, so the command closes the run."""
    (flaky,) = cli.cards(1)
    cli.pipeline.google.add_fault(target=str(flaky.google_object_id), status=503)
    env = {
        **os.environ,
        **environment_of(cli.pipeline.settings),
        "WALLET_SYNC_RETRY_SCHEDULE_MS": "30000",
    }

    done = wallet_sync(env, "sync-card", str(flaky.id), "--inline", "--timeout", "1")

    assert done.returncode == Exit.FAILED, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["closed"] is True
    (card,) = outcome["cards"]
    assert (card["status"], card["error_kind"]) == ("failed", "lost")
    assert "had no outcome within --timeout 1 s" in done.stderr
    assert "workers" not in done.stderr
    _, report = cli.json("report", str(outcome["run_id"]))
    assert (report["run_status"], report["status"]) == ("closed", "deadline")
    assert report["failed_card_ids"] == [flaky.id]


def test_sync_card_with_redis_down_exits_unavailable_before_opening_a_run(
    cli: Cli,
) -> None:
    """Exit 4 naming the broker; no run is left behind waiting for messages."""
    (card,) = cli.cards(1)
    env = {
        **os.environ,
        **environment_of(cli.pipeline.settings),
        "WALLET_SYNC_BROKER_URL": "redis://127.0.0.1:1/0",
    }

    done = wallet_sync(env, "sync-card", str(card.id), "--wait")

    assert done.returncode == Exit.UNAVAILABLE
    assert "cannot reach the broker" in done.stderr
    with session_scope(cli.pipeline.settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0
