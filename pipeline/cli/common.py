"""What the operator commands share: the --json option, and turning an
unreachable database or broker into an error a person can act on."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, Any, TypeVar

import dramatiq.broker
import redis
import typer
from dramatiq import Broker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import BrokerError
from sqlalchemy.exc import OperationalError, ProgrammingError

from pipeline import logs
from pipeline.cli.app import Exit, fail
from pipeline.deadletters import heartbeats_key
from pipeline.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

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


def flowing_help(command: F) -> F:
    """Let ``--help`` rewrap each paragraph of the command's docstring.

    Typer's rich help keeps the single line breaks of every paragraph after
    the first, so a docstring wrapped at the source's width shows breaks in
    mid-sentence. Apply it below ``@app.command``: Typer reads the docstring
    only when the help is built.
    """
    text = inspect.cleandoc(command.__doc__ or "")
    paragraphs = (" ".join(p.split()) for p in text.split("\n\n"))
    command.__doc__ = "\n\n".join(p for p in paragraphs if p)
    return command


@contextmanager
def sending_broker(settings: Settings) -> Iterator[Broker]:
    """The pipeline's broker, for a command that sends messages and runs none.

    Redis must answer first, so that no run is opened halfway. Every call
    the Redis broker makes records this process in the broker's heartbeats,
    which ``wallet-sync status`` counts as live workers; on the way out the
    entry is removed again. A process that had a broker already (it may run
    a worker on it, as the tests' does) keeps its entry.
    """
    from pipeline import broker as broker_setup

    owned = dramatiq.broker.global_broker is None
    broker = broker_setup.setup(settings)
    if isinstance(broker, RedisBroker):
        broker.client.ping()
    try:
        yield broker
    finally:
        if owned and isinstance(broker, RedisBroker):
            _forget_heartbeat(broker)


def _forget_heartbeat(broker: RedisBroker) -> None:
    # Should Redis be gone by now, the entry expires with the timeout anyway.
    with suppress(redis.RedisError):
        broker.client.zrem(heartbeats_key(broker.namespace), broker.broker_id)
