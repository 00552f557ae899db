"""``wallet-sync runs`` and ``wallet-sync report``: what recent runs did."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from pipeline import ledger, reporting
from pipeline.cli.app import Exit, app, emit_json, fail
from pipeline.cli.common import JsonOption, echo_lines, flowing_help, services
from pipeline.db import session_scope
from pipeline.errors import RunNotFound
from pipeline.settings import Settings, get_settings


class RunStatusChoice(enum.StrEnum):
    finding = "finding"
    open = "open"
    closed = "closed"


@app.command("runs")
@flowing_help
def list_runs(
    limit: Annotated[
        int, typer.Option(min=1, help="How many runs to show, newest first.")
    ] = 20,
    status: Annotated[
        RunStatusChoice | None,
        typer.Option(help="Only runs in this state."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List recent sync runs: trigger, start, duration, cards, failures, state.

    Example: wallet-sync runs --limit 5 --status closed
    """
    settings = get_settings()
    with services(), session_scope(settings.database_url) as session:
        rows = reporting.list_runs(
            session, limit=limit, status=status.value if status else None
        )
    if json_output:
        emit_json(rows)
    elif rows:
        echo_lines(reporting.runs_lines(rows))
    else:
        typer.echo("no runs yet" + (f" with status {status.value}" if status else ""))


@app.command()
@flowing_help
def report(
    run_id: Annotated[
        int | None, typer.Argument(help="The run to show.", show_default=False)
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Show the most recently opened run.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show one run's report, its failed cards and what to do about them.

    Besides the counts: each failed card with its error kind, last error and
    attempts, the cards still pending while the run is open, and what each
    failure kind means and what to do about it.

    Example: wallet-sync report --latest ; wallet-sync report 42 --json
    """
    if (run_id is None) == (not latest):
        fail("give either a RUN_ID or --latest", Exit.USAGE)
    settings = get_settings()
    with services():
        detail = _detail(settings, run_id)
    if json_output:
        emit_json(detail)
    else:
        echo_lines(reporting.detail_lines(detail))


def _detail(settings: Settings, run_id: int | None) -> dict[str, object]:
    thresholds = ledger.Thresholds(
        settings.alert_failure_rate, settings.alert_failed_cards
    )
    with session_scope(settings.database_url) as session:
        if run_id is None:
            run_id = reporting.latest_run_id(session)
            if run_id is None:
                fail("there are no runs yet", Exit.NOT_FOUND, hint="wallet-sync run")
        try:
            return reporting.run_detail(session, run_id, thresholds)
        except RunNotFound as error:
            fail(str(error), Exit.NOT_FOUND, hint="list runs with: wallet-sync runs")
