"""``wallet-sync sync-card``: re-sync named cards now, by the finder's path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import structlog
import typer
from dramatiq import Broker, Worker

from pipeline import ledger, logs, reporting
from pipeline.cli.app import Exit, app, emit_json, fail
from pipeline.cli.common import (
    JsonOption,
    echo_lines,
    flowing_help,
    quiet_logs,
    sending_broker,
    services,
)
from pipeline.db import session_scope
from pipeline.errors import CardNotFound, CardNotSyncable
from pipeline.ledger import check_syncable
from pipeline.settings import Settings, get_settings


@app.command("sync-card")
@flowing_help
def sync_card(
    card_ids: Annotated[
        list[int], typer.Argument(help="Ids of the cards to sync.", show_default=False)
    ],
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the outcome of each card; print it."),
    ] = False,
    inline: Annotated[
        bool,
        typer.Option(
            "--inline",
            help="Sync in this process on an in-process broker, no Redis or "
            "workers needed (debugging). Implies --wait.",
        ),
    ] = False,
    no_retry: Annotated[
        bool,
        typer.Option(
            "--no-retry",
            help="With --inline: one attempt per card instead of the retry schedule.",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the outcomes.")
    ] = 120,
    json_output: JsonOption = False,
) -> None:
    """Sync the named cards now, as a run of their own.

    Each card goes through the same sync_card message the hourly finder sends,
    and workers (`dramatiq workers`) process the run unless --inline is given.
    Exits 3 naming the card when an id is unknown or the card has no wallet
    integration (nothing is enqueued then), 1 when a card failed.

    With --inline the command never leaves the run open: at --timeout it
    stops its worker and closes the run, reporting unfinished cards as lost.

    Example: wallet-sync sync-card 1042 1043 --wait
    """
    if no_retry and not inline:
        fail("--no-retry only applies with --inline", Exit.USAGE)
    settings = get_settings()
    if inline and not json_output:
        # The sync runs here: its log lines are what one debugs with.
        logs.configure(settings.log_level, settings.log_format)
    else:
        quiet_logs(settings)
    outcome: dict[str, Any] | None
    with services():
        _check_cards(settings, card_ids)
        if inline:
            run_id, outcome = _sync_inline(settings, card_ids, no_retry, timeout)
        else:
            run_id, outcome = _sync_on_workers(settings, card_ids, wait, timeout)
    if outcome is None:
        _print_enqueued(run_id, card_ids, json_output)
        return
    _print_outcomes(run_id, outcome, json_output)


def _check_cards(settings: Settings, card_ids: list[int]) -> None:
    """Fail naming every id that cannot be synced, before anything is sent."""
    problems = []
    with session_scope(settings.database_url) as session:
        for card_id in dict.fromkeys(card_ids):
            try:
                check_syncable(session, [card_id])
            except (CardNotFound, CardNotSyncable) as error:
                problems.append(str(error))
    if problems:
        fail(
            "; ".join(problems) + "; nothing was enqueued",
            Exit.NOT_FOUND,
            hint="check the ids; a card needs a Google object or an Apple pass",
        )


def _sync_on_workers(
    settings: Settings, card_ids: list[int], wait: bool, timeout: float
) -> tuple[int, dict[str, Any] | None]:
    from pipeline import api

    with sending_broker(settings):
        run_id = api.sync_cards(card_ids, settings)
    if not wait:
        return run_id, None
    return run_id, reporting.wait_for_outcomes(settings, run_id, timeout)


def _sync_inline(
    settings: Settings, card_ids: list[int], no_retry: bool, timeout: float
) -> tuple[int, dict[str, Any]]:
    """Sync on a worker in this process; the run is closed when this returns.

    The run's deadline message lives on the in-process broker and vanishes
    with the command, so a run still open at the timeout (or on Ctrl-C) is
    closed here, once the worker has stopped: its unfinished cards are
    reported as ``lost``, as the deadline would have done.
    """
    from pipeline import api

    if no_retry:
        settings = settings.model_copy(update={"retry_schedule_ms": ()})
    run_id: int | None = None
    try:
        with _in_process_worker(settings):
            run_id = api.sync_cards(card_ids, settings, trigger="inline")
            outcome = reporting.wait_for_outcomes(settings, run_id, timeout)
    finally:
        lost = _close_inline_run(settings, run_id) if run_id is not None else 0
    if lost:
        outcome = reporting.wait_for_outcomes(settings, run_id, 0)
        typer.echo(
            f"error: run {run_id}: {lost} card(s) had no outcome within --timeout "
            f"{timeout:g} s; the run is closed and reports them as lost",
            err=True,
        )
        typer.echo(
            "hint: retries run in real time here: raise --timeout, or give each "
            "card one attempt with --no-retry",
            err=True,
        )
    return run_id, outcome


def _close_inline_run(settings: Settings, run_id: int) -> int:
    """Close the run if it is still open; how many cards it reported lost."""
    thresholds = ledger.Thresholds(
        settings.alert_failure_rate, settings.alert_failed_cards
    )
    with session_scope(settings.database_url) as session:
        report = ledger.close_run(session, run_id, deadline=True, thresholds=thresholds)
    if report is None:
        return 0
    structlog.get_logger(__name__).info("run.finished", **report)
    return int(report["errors_by_kind"].get(ledger.LOST, 0))


@contextmanager
def _in_process_worker(settings: Settings) -> Iterator[Broker]:
    """Dramatiq's in-process broker with the pipeline's middleware and actors,
    and a worker in this process; messages left (the run's deadline) vanish
    with it."""
    from pipeline import broker as broker_setup

    broker = broker_setup.setup(settings, in_process=True)
    import pipeline.actors  # noqa: F401  (declares the actors on it)

    worker = Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        yield broker
    finally:
        worker.stop()


def _print_enqueued(run_id: int, card_ids: list[int], json_output: bool) -> None:
    if json_output:
        emit_json({"run_id": run_id, "card_ids": sorted(set(card_ids))})
        return
    typer.echo(
        f"run {run_id}: {len(set(card_ids))} card(s) enqueued; "
        f"see the outcome with: wallet-sync report {run_id}"
    )


def _print_outcomes(run_id: int, outcome: dict[str, Any], json_output: bool) -> None:
    if json_output:
        emit_json(outcome)
    else:
        typer.echo(f"run {run_id}")
        echo_lines(reporting.outcome_lines(outcome["cards"]))
    if not outcome["closed"]:
        fail(
            f"run {run_id} is still open: some cards have no outcome yet",
            Exit.FAILED,
            hint="are workers running? check with: wallet-sync status",
        )
    if any(card["status"] == "failed" for card in outcome["cards"]):
        raise typer.Exit(int(Exit.FAILED))
