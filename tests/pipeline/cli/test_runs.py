"""``wallet-sync runs`` and ``wallet-sync report`` over real runs."""

from __future__ import annotations

from pathlib import Path

from pipeline import runs
from pipeline.cli import Exit
from pipeline.db import session_scope
from pipeline.ledger import add_cards
from tests.pipeline.cli.conftest import Cli


def test_runs_lists_the_newest_first_with_failures_and_rate(cli: Cli) -> None:
    """Two runs: the second, with one of two cards failed, comes first."""
    first = cli.pipeline.run()
    rejected, _fine = cli.cards(2)
    cli.pipeline.google.add_fault(target=str(rejected.google_object_id), status=400)
    second = cli.pipeline.run()

    code, rows = cli.json("runs")

    assert code == Exit.OK
    assert [row["run_id"] for row in rows] == [second["run_id"], first["run_id"]]
    assert rows[0]["cards_total"] == 2
    assert rows[0]["cards_failed"] == 1
    assert rows[0]["failure_rate"] == 0.5
    assert rows[0]["status"] == "closed"
    assert rows[0]["trigger"] == "manual"
    assert rows[0]["duration_s"] >= 0
    header, *lines = cli("runs", "--limit", "1").stdout.splitlines()
    assert header.split()[:2] == ["run", "trigger"]
    assert len(lines) == 1
    assert lines[0].split()[0] == str(second["run_id"])
    assert "50.0%" in lines[0]


def test_runs_filters_by_status(cli: Cli) -> None:
    """--status open shows only runs still open; a bad status is a usage error."""
    cli.pipeline.run()
    open_id = _open_run_without_messages(cli, cli.cards(1)[0].id)

    code, rows = cli.json("runs", "--status", "open")

    assert code == Exit.OK
    assert [row["run_id"] for row in rows] == [open_id]
    assert rows[0]["cards_pending"] == 1
    assert cli("runs", "--status", "paused").exit_code == Exit.USAGE


def test_report_names_each_failure_with_its_message_and_advice(cli: Cli) -> None:
    """Kind, last message and attempts per failed card, advice per kind."""
    rejected, flaky, _fine = cli.cards(3)
    cli.pipeline.google.add_fault(target=str(rejected.google_object_id), status=400)
    cli.pipeline.google.add_fault(target=str(flaky.google_object_id), status=503)
    run_id = cli.pipeline.run()["run_id"]

    code, report = cli.json("report", str(run_id))

    assert code == Exit.OK
    assert report["failed_card_ids"] == sorted([rejected.id, flaky.id])
    failures = {f["card_id"]: f for f in report["failures"]}
    assert failures[rejected.id]["error_kind"] == "rejected"
    assert failures[rejected.id]["attempts"] == 1
    assert "HTTP 400" in failures[rejected.id]["error_message"]
    assert failures[flaky.id]["error_kind"] == "server_error"
    assert failures[flaky.id]["attempts"] == 4
    assert failures[flaky.id]["wallet"] == "google"
    assert set(report["advice"]) == {"rejected", "server_error"}
    assert "next hourly run" in report["advice"]["server_error"]["action"]
    assert report["pending_card_ids"] == []
    lines = cli("report", str(run_id)).stdout.splitlines()
    row = next(line for line in lines if line.startswith(f"{rejected.id} "))
    assert row.split()[1:3] == ["rejected", "1"]
    assert sum(line.startswith("  what to do:") for line in lines) == 2


def test_report_latest_shows_an_open_run_with_its_pending_cards(cli: Cli) -> None:
    """--latest picks the newest run; while open, its pending cards are listed."""
    cli.pipeline.run()
    card = cli.cards(1)[0]
    open_id = _open_run_without_messages(cli, card.id)

    code, report = cli.json("report", "--latest")

    assert code == Exit.OK
    assert report["run_id"] == open_id
    assert report["status"] == "open"
    assert report["pending_card_ids"] == [card.id]
    assert report["cards_pending"] == 1
    assert "still pending" in cli("report", "--latest").stdout


def test_report_of_an_unknown_run_is_not_found(cli: Cli) -> None:
    """The error names the run; no id and no --latest is a usage error."""
    result = cli("report", "987654")

    assert result.exit_code == Exit.NOT_FOUND
    assert "run 987654 does not exist" in result.stderr
    assert cli("report").exit_code == Exit.USAGE
    assert cli("report", "--latest").exit_code == Exit.NOT_FOUND


def _open_run_without_messages(cli: Cli, card_id: int) -> int:
    """A run with one pending card and no message sent for it."""
    settings = cli.pipeline.settings
    run_id = runs.open_run(settings, "cards")
    assert run_id is not None
    with session_scope(settings.database_url) as session:
        add_cards(session, run_id, [card_id])
    return run_id


def test_runs_without_a_schema_or_a_database_say_what_to_do(
    cli: Cli, tmp_path: Path
) -> None:
    """No schema: exit 5 and the upgrade command; no server: exit 4."""
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    down = "postgresql+psycopg://postgres@127.0.0.1:1/test"

    unmigrated = cli("runs", WALLET_SYNC_DATABASE_URL=empty)
    unreachable = cli("report", "--latest", WALLET_SYNC_DATABASE_URL=down)

    assert unmigrated.exit_code == Exit.NOT_READY
    assert "wallet-sync db upgrade" in unmigrated.stderr
    assert unreachable.exit_code == Exit.UNAVAILABLE
    assert "cannot reach the database" in unreachable.stderr
