"""The Typer application, exit codes and output helpers the commands share."""

from __future__ import annotations

import enum
import json
import sys
from typing import Any, NoReturn

import typer

app = typer.Typer(
    name="wallet-sync",
    help="Catch-up sync of loyalty cards to Google Wallet and Apple Wallet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


class Exit(enum.IntEnum):
    """Exit codes every command uses."""

    OK = 0
    FAILED = 1  # the command ran; what it checked or ran failed
    USAGE = 2  # bad arguments (Typer's own code for usage errors)
    NOT_FOUND = 3  # an id names nothing: card, run, message
    UNAVAILABLE = 4  # database, broker or emulator unreachable
    NOT_READY = 5  # schema not migrated, settings missing


def emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


def fail(message: str, code: Exit, *, hint: str | None = None) -> NoReturn:
    """Print an error a person can act on, and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(int(code))


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
