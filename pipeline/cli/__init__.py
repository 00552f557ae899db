"""The ``wallet-sync`` command line.

Each command module registers its commands on :data:`app`; ``main`` is the
console-script entry point. Exit codes are named in :class:`Exit`.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError

from pipeline.cli.app import Exit, app
from pipeline.settings import get_settings


def main() -> None:
    import pipeline.cli.commands  # noqa: F401  (registers the commands)

    try:
        get_settings()
    except ValidationError as error:
        _bad_settings(error)
    app()


def _bad_settings(error: ValidationError) -> NoReturn:
    """Name each bad WALLET_SYNC_ variable and what it should be, then exit."""
    for problem in error.errors():
        name = "WALLET_SYNC_" + "_".join(str(part) for part in problem["loc"]).upper()
        message = str(problem["msg"]).removeprefix("Value error, ")
        typer.echo(f"error: {name}: {message}", err=True)
    typer.echo("hint: fix the environment or .env (README lists them)", err=True)
    raise SystemExit(int(Exit.NOT_READY))


__all__ = ["Exit", "app", "main"]
