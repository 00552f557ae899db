"""What the operator commands share: the --json option, and turning an
unreachable database or broker into an error a person can act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import redis
import typer
from dramatiq.errors import BrokerError
from sqlalchemy.exc import OperationalError, ProgrammingError

from pipeline import logs
from pipeline.cli.app import Exit, fail
from pipeline.settings import Settings

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")
]

_MISSING_TABLE = ("no such table", "does not exist")


@contextmanager
def services() -> Iterator[None]:
    """Exit UNAVAILABLE or NOT_READY, with a hint, when a service lets us down."""
    try:
        yield
    except (OperationalError, ProgrammingError) as error:
        text = str(error.orig)
        if any(marker in text for marker in _MISSING_TABLE):
            fail(
                f"the database has no wallet-sync schema: {text.splitlines()[0]}",
                Exit.NOT_READY,
                hint="run: wallet-sync db upgrade",
            )
        fail(
            f"cannot reach the database: {text.splitlines()[0]}",
            Exit.UNAVAILABLE,
            hint="check WALLET_SYNC_DATABASE_URL and that the server is running",
        )
    except (redis.RedisError, BrokerError) as error:
        fail(
            f"cannot reach the broker: {error}",
            Exit.UNAVAILABLE,
            hint="check WALLET_SYNC_BROKER_URL and that Redis is running",
        )


def quiet_logs(settings: Settings) -> None:
    """Send log lines to stderr, warnings and errors only, so stdout stays the
    command's own output (structlog would print to stdout unconfigured)."""
    logs.configure("WARNING", settings.log_format)


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)
