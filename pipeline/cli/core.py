"""Commands to set up, seed and run the pipeline, and to try it locally."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import OperationalError

from pipeline import logs
from pipeline.cli.app import Exit, app, db_app, emit_json, fail
from pipeline.cli.common import flowing_help, quiet_logs, sending_broker, services
from pipeline.reporting import report_lines
from pipeline.settings import get_settings

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")
]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema of WALLET_SYNC_DATABASE_URL to the newest."""
    from pipeline.migrate import pending_revisions, upgrade

    settings = get_settings()
    try:
        upgrade(settings.database_url)
        current, _ = pending_revisions(settings.database_url)
    except OperationalError as error:
        fail(
            f"cannot reach the database: {error.orig}",
            Exit.UNAVAILABLE,
            hint="check WALLET_SYNC_DATABASE_URL and that the server is running",
        )
    typer.echo(f"database at revision {current}")


@app.command()
@flowing_help
def demo(
    cards: Annotated[int, typer.Option(min=1, help="How many cards to seed.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the data set and its faults.")] = 1,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep the database and emulator files here (default: temp)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Run one sync end to end on this machine, with nothing else installed.

    Starts both emulators on loopback, seeds a SQLite file, runs the pipeline
    on Dramatiq's in-process broker and prints the run's report.

    Example: wallet-sync demo --cards 500 --seed 7 --json
    """
    from pipeline.demo import run_demo

    settings = get_settings()
    # Warnings only: the report is what a demo is for; per-card lines belong
    # in the workers' logs of a real deployment.
    logs.configure("WARNING", settings.log_format)
    result = run_demo(cards, seed, workdir=workdir)
    if json_output:
        emit_json(result)
        return
    _print_report(result["report"])
    plan = result["plan"]
    matches = result["report"]["failed_card_ids"] == plan["failing_card_ids"]
    typer.echo(
        f"\nplanned to fail: {len(plan['failing_card_ids'])} cards; "
        f"planned to recover: {len(plan['recovering_card_ids'])} cards; "
        f"failed cards match the plan: {'yes' if matches else 'NO'}"
    )


@app.command()
@flowing_help
def seed(
    cards: Annotated[int, typer.Option(min=1, help="How many cards to load.")],
    seed: Annotated[int, typer.Option(help="Seed of the data set and its faults.")] = 1,
    json_output: JsonOption = False,
) -> None:
    """Load the demo data set and arm its faults in the running emulators.

    Needs an empty, migrated database and `wallet-sync emulate` running with
    its settings sourced. Every seeded card is due for sync.

    Example: wallet-sync seed --cards 300 --json
    """
    from pipeline.demo import emulator_controls, install
    from pipeline.seed import DatabaseNotEmpty

    settings = get_settings()
    quiet_logs(settings)
    try:
        with services(), emulator_controls(settings) as (google, apple):
            plan = install(settings, cards, seed, google, apple)
    except DatabaseNotEmpty as error:
        fail(
            str(error),
            Exit.FAILED,
            hint="point WALLET_SYNC_DATABASE_URL at an empty one",
        )
    if json_output:
        emit_json({"cards": cards, "plan": plan.as_dict()})
        return
    typer.echo(
        f"seeded {cards} cards; {len(plan.failing_card_ids)} will fail, "
        f"{len(plan.recovering_card_ids)} will recover after transient errors"
    )


@app.command()
@flowing_help
def run(
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the run to close; print its report."),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait with --wait before giving up.")
    ] = 3600,
    json_output: JsonOption = False,
) -> None:
    """Open a sync run over every due card now, as the hourly trigger would.

    Workers (`dramatiq workers`) must be running to process it.

    Example: wallet-sync run --wait --json
    """
    from pipeline import api, runs

    settings = get_settings()
    quiet_logs(settings)
    with services(), sending_broker(settings):
        run_id = api.start_run(settings)
    if not wait:
        if json_output:
            emit_json({"run_id": run_id})
        else:
            typer.echo(f"run {run_id} opened; see it with: wallet-sync report {run_id}")
        return
    with services():
        report = runs.wait_for_report(settings, run_id, timeout_s=timeout, poll_s=0.5)
    if report is None:
        fail(
            f"run {run_id} is still open after {timeout:.0f} s",
            Exit.FAILED,
            hint="are workers running? check with: wallet-sync status",
        )
    if json_output:
        emit_json(report)
    else:
        _print_report(report)
    if report["cards_failed"]:
        raise typer.Exit(int(Exit.FAILED))


@app.command()
@flowing_help
def emulate(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    google_port: Annotated[
        int, typer.Option(help="Google Wallet emulator port.")
    ] = 8461,
    apns_port: Annotated[int, typer.Option(help="APNs emulator port.")] = 8462,
    env_file: Annotated[
        Path | None,
        typer.Option(
            help="Write WALLET_SYNC_* settings pointing at the emulators here."
        ),
    ] = None,
    workdir: Annotated[
        Path, typer.Option(help="Where keys and certificates are generated.")
    ] = Path(".wallet-sync/emulators"),
    public_host: Annotated[
        str | None,
        typer.Option(
            help="Name the workers reach the emulators by, when not --host "
            "(a compose service name while listening on 0.0.0.0)."
        ),
    ] = None,
) -> None:
    """Run the Google Wallet and APNs emulators until interrupted.

    Example: wallet-sync emulate --env-file .wallet-sync/env &  (then, once the
    file exists: . .wallet-sync/env)
    """
    from pipeline.emulators import serve

    # Absolute paths in the settings file, so that it works from any directory.
    serve(
        host,
        google_port,
        apns_port,
        env_file,
        workdir.resolve(),
        public_host=public_host,
    )


def _print_report(report: dict[str, Any]) -> None:
    for line in report_lines(report):
        typer.echo(line)
