"""``wallet-sync dlq``: dead messages on the session's Redis namespace."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from dramatiq import Message
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from pipeline import deadletters
from pipeline.cli import Exit
from tests.pipeline.cli.conftest import Cli


def dead(cli: Cli, *options: str) -> list[dict[str, Any]]:
    """The entries ``dlq list --json`` shows."""
    code, listed = cli.json("dlq", "list", *options)
    assert code == Exit.OK
    messages: list[dict[str, Any]] = listed["messages"]
    return messages


@pytest.fixture
def empty_dlq(cli: Cli) -> Cli:
    """The session's dead letters, emptied before the test."""
    assert cli("dlq", "purge", "--yes").exit_code == Exit.OK
    return cli


def test_a_dead_card_is_listed_shown_with_its_final_error_and_requeued(
    empty_dlq: Cli,
) -> None:
    """Three 503s then a 400: show gives the 400 of attempt 4, not the payload's
    stale 503; after the fault is cleared, requeue syncs the card."""
    cli = empty_dlq
    (card,) = cli.cards(1)
    object_id = str(card.google_object_id)
    cli.pipeline.google.add_fault(target=object_id, status=503, times=3)
    cli.pipeline.google.add_fault(target=object_id, status=400)
    code, first = cli.json("sync-card", str(card.id), "--wait")
    assert code == Exit.FAILED

    code, listed = cli.json("dlq", "list", "--card", str(card.id))
    assert code == Exit.OK
    (entry,) = listed["messages"]
    assert (entry["actor"], entry["run_id"]) == ("sync_card", first["run_id"])
    assert entry["error_kind"] == "rejected"

    code, shown = cli.json("dlq", "show", entry["message_id"][:8])
    assert code == Exit.OK
    assert shown["attempts"] == 4
    assert shown["error_source"] == "ledger"
    assert "HTTP 400" in shown["error"]
    assert shown["payload_retries"] == 3
    assert "503" in shown["payload_error"]
    assert "what to do" in cli("dlq", "show", entry["message_id"]).stdout

    cli.pipeline.google.clear_faults()
    cli.pipeline.google.clear_requests()
    code, requeued = cli.json("dlq", "requeue", entry["message_id"], "--wait")

    assert code == Exit.OK
    new_run = requeued["run_id"]
    assert new_run != first["run_id"]
    (card_outcome,) = requeued["outcome"]["cards"]
    assert (card_outcome["status"], card_outcome["attempts"]) == ("synced", 1)
    calls = cli.pipeline.requests("google", object_id)
    assert [(c["method"], c["status"]) for c in calls] == [
        ("PATCH", 404),
        ("POST", 200),
    ]
    assert cli.pipeline.google.stored(object_id) is not None
    assert dead(cli) == []
    assert cli.json("report", str(first["run_id"]))[1]["cards_failed"] == 1
    assert cli.json("report", str(new_run))[1]["trigger"] == "requeue"
    code, again = cli.json("sync-card", str(card.id), "--wait")
    assert code == Exit.OK
    assert [c["status"] for c in again["cards"]] == ["synced"]


def test_requeue_by_card_sends_one_sync_for_several_dead_letters(
    empty_dlq: Cli,
) -> None:
    """Two dead syncs of one card become one requeued sync; both leave the queue."""
    cli = empty_dlq
    (card,) = cli.cards(1)
    cli.pipeline.google.add_fault(target=str(card.google_object_id), status=400)
    for _ in range(2):
        assert cli("sync-card", str(card.id), "--wait").exit_code == Exit.FAILED
    assert len(dead(cli)) == 2
    cli.pipeline.google.clear_faults()

    code, requeued = cli.json("dlq", "requeue", "--card", str(card.id), "--wait")

    assert code == Exit.OK
    assert len(requeued["requeued"]) == 1
    assert requeued["removed"] == 2
    assert requeued["outcome"]["cards"][0]["status"] == "synced"
    assert dead(cli) == []


def test_messages_of_gone_actors_are_listed_kept_on_requeue_and_purged(
    empty_dlq: Cli,
) -> None:
    """An unknown actor and an unreadable payload: listed, never requeued,
    purged with --yes only, and other queues' dead letters stay."""
    cli = empty_dlq
    retired = _bury(cli, cli.pipeline.settings.queue_name + "-control", "retired")
    _bury_raw(cli, cli.pipeline.settings.queue_name, "raw-1", b"\x00not json")
    _bury(cli, "someone-elses-queue", "sync_card")

    code, listed = cli.json("dlq", "list")
    assert code == Exit.OK
    assert {e["message_id"] for e in listed["messages"]} == {retired, "redis:raw-1"}
    shown = cli.json("dlq", "show", "redis:raw-1")[1]
    assert shown["error_source"] == "unreadable"

    refused = cli("dlq", "requeue", retired)
    assert refused.exit_code == Exit.FAILED
    assert "actor 'retired' no longer exists" in refused.stderr
    skipped = cli.json("dlq", "requeue", "--all")
    assert skipped[0] == Exit.FAILED
    assert len(skipped[1]["skipped"]) == 2
    assert len(dead(cli)) == 2

    assert cli("dlq", "purge").exit_code == Exit.USAGE
    assert len(dead(cli)) == 2
    code, purged = cli.json("dlq", "purge", "--yes")
    assert (code, purged["purged"]) == (Exit.OK, 2)
    assert dead(cli) == []
    client = cli.pipeline.broker.client
    namespace = cli.pipeline.broker.namespace
    assert client.zcard(f"{namespace}:someone-elses-queue.XQ") == 1
    client.delete(f"{namespace}:someone-elses-queue.XQ")
    client.delete(f"{namespace}:someone-elses-queue.XQ.msgs")


def test_purge_older_than_keeps_recent_dead_letters(empty_dlq: Cli) -> None:
    """Only letters that died before the cut-off go; --since lists the rest."""
    cli = empty_dlq
    queue = cli.pipeline.settings.queue_name
    old = _bury(cli, queue, "sync_card", age_s=3 * 86400, run_id=1, card_id=1)
    new = _bury(cli, queue, "sync_card", age_s=60, run_id=1, card_id=2)

    assert [e["message_id"] for e in dead(cli, "--since", "1h")] == [new]
    code, purged = cli.json("dlq", "purge", "--older-than", "2d", "--yes")

    assert (code, purged["message_ids"]) == (Exit.OK, [old])
    assert [e["message_id"] for e in dead(cli)] == [new]
    assert cli("dlq", "purge", "--older-than", "soon", "--yes").exit_code == (
        Exit.USAGE
    )


def test_list_says_how_many_entries_its_limit_left_out(empty_dlq: Cli) -> None:
    """--limit 2 of 3: the JSON has two messages and omitted 1; 0 shows all."""
    cli = empty_dlq
    queue = cli.pipeline.settings.queue_name
    ids = [_bury(cli, queue, "sync_card", age_s=age) for age in (30, 20, 10)]

    code, listed = cli.json("dlq", "list", "--limit", "2")

    assert code == Exit.OK
    assert [e["message_id"] for e in listed["messages"]] == ids[:0:-1]
    assert (listed["total"], listed["omitted"]) == (3, 1)
    assert "1 older ones not shown" in cli("dlq", "list", "--limit", "2").stdout
    assert len(dead(cli, "--limit", "0")) == 3


def test_purge_without_yes_prints_what_it_would_delete_and_deletes_nothing(
    empty_dlq: Cli,
) -> None:
    """A dry run: JSON names the messages, exit 2, every letter stays."""
    cli = empty_dlq
    buried = _bury(cli, cli.pipeline.settings.queue_name, "sync_card", card_id=7)

    code, plan = cli.json("dlq", "purge", "--card", "7")

    assert code == Exit.USAGE
    assert plan == {
        "dry_run": True,
        "message_ids": [buried],
        "purged": 0,
        "would_purge": 1,
    }
    assert [e["message_id"] for e in dead(cli)] == [buried]
    text = cli("dlq", "purge", "--card", "7")
    assert "this would delete 1 dead message(s)" in text.stderr


def test_a_database_error_is_shown_by_its_message_not_its_background_link(
    empty_dlq: Cli, tmp_path: Path
) -> None:
    """SQLAlchemy's last traceback line is a link; list and show skip it."""
    cli = empty_dlq
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT * FROM loyalty_cards"))
    except OperationalError:
        stored = traceback.format_exc()
    finally:
        engine.dispose()
    assert stored.strip().splitlines()[-1].startswith("(Background on this error")
    message_id = _bury(
        cli, cli.pipeline.settings.queue_name, "find_cards", traceback=stored
    )

    (entry,) = dead(cli)
    shown = cli("dlq", "show", message_id).stdout

    expected = "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such"
    assert entry["error"].startswith(expected)
    assert expected in cli("dlq", "list").stdout
    assert expected in shown
    assert "sqlalche.me" not in shown


def test_unknown_message_ids_and_bad_requeue_arguments_are_refused(
    empty_dlq: Cli,
) -> None:
    """NOT_FOUND names the id, a short prefix is called too short; requeue
    wants exactly one way to choose."""
    cli = empty_dlq

    shown = cli("dlq", "show", "no-such-message")
    assert shown.exit_code == Exit.NOT_FOUND
    assert "no dead message with id no-such-message" in shown.stderr
    assert cli("dlq", "requeue", "no-such-message").exit_code == Exit.NOT_FOUND
    assert cli("dlq", "requeue").exit_code == Exit.USAGE
    assert cli("dlq", "requeue", "x", "--all").exit_code == Exit.USAGE
    assert cli("dlq", "requeue", "--card", "5").exit_code == Exit.NOT_FOUND
    assert cli("dlq", "list", "--since", "yesterday").exit_code == Exit.USAGE
    assert cli.json("dlq", "requeue", "--all") == (
        Exit.OK,
        {"removed": 0, "requeued": [], "run_id": None, "skipped": []},
    )
    buried = _bury(cli, cli.pipeline.settings.queue_name, "sync_card")
    short = cli("dlq", "show", buried[:4])
    assert short.exit_code == Exit.USAGE
    assert f"message id '{buried[:4]}' is too short" in short.stderr
    assert "6 or more characters" in short.stderr


def test_the_control_queue_name_matches_the_actors(cli: Cli) -> None:
    """The dead-letter tools read the queue the actors really use."""
    from pipeline import actors

    assert deadletters.queue_names(cli.pipeline.settings) == (
        actors.CARDS_QUEUE,
        actors.CONTROL_QUEUE,
    )


def _bury(
    cli: Cli,
    queue: str,
    actor: str,
    age_s: float = 0,
    traceback: str | None = None,
    **kwargs: Any,
) -> str:
    """Put a dead message straight into a queue's dead letters; its id."""
    options = {"traceback": traceback} if traceback else {}
    message: Message[Any] = Message(
        queue_name=queue, actor_name=actor, args=(), kwargs=kwargs, options=options
    )
    _bury_raw(cli, queue, f"redis-{message.message_id}", message.encode(), age_s)
    return message.message_id


def _bury_raw(
    cli: Cli, queue: str, redis_id: str, payload: bytes, age_s: float = 0
) -> None:
    client = cli.pipeline.broker.client
    key = f"{cli.pipeline.broker.namespace}:{queue}.XQ"
    client.zadd(key, {redis_id: int((time.time() - age_s) * 1000)})
    client.hset(f"{key}.msgs", redis_id, payload)


def test_dlq_with_redis_down_exits_unavailable(cli: Cli) -> None:
    """The error names the broker and the setting to check."""
    result = cli("dlq", "list", WALLET_SYNC_BROKER_URL="redis://127.0.0.1:1/0")

    assert result.exit_code == Exit.UNAVAILABLE
    assert "cannot reach the broker" in result.stderr
    assert "WALLET_SYNC_BROKER_URL" in result.stderr
