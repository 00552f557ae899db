"""Operator commands run in this process against the session's pipeline.

The commands read their settings through ``get_settings()``, so each call
sets the harness's settings (plus any overrides) as environment variables
and clears the settings cache. Actors stay declared on the harness's Redis
broker, so commands that enqueue reach the harness's worker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import pipeline.cli.commands  # noqa: F401  (registers the commands)
from pipeline.cli import app
from pipeline.db import session_scope
from pipeline.models import LoyaltyCard
from pipeline.settings import Settings, get_settings
from tests import factories
from tests.pipeline.conftest import Harness


def environment_of(settings: Settings) -> dict[str, str]:
    """The WALLET_SYNC_* variables that reproduce ``settings``."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ",".join(map(str, value))
        env[f"WALLET_SYNC_{name.upper()}"] = str(value)
    return env


@dataclass
class Cli:
    """``wallet-sync`` in this process, with the harness's settings."""

    pipeline: Harness
    env: dict[str, str]

    def __call__(self, *args: str, **overrides: str | None) -> Result:
        """Run a command; ``overrides`` maps variables to values (None unsets)."""
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**self.env, **overrides}.items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            get_settings.cache_clear()
            try:
                return CliRunner().invoke(app, list(args))
            finally:
                get_settings.cache_clear()

    def json(self, *args: str, **overrides: str | None) -> tuple[int, Any]:
        """Exit code and parsed JSON output of a command run with --json."""
        result = self(*args, "--json", **overrides)
        assert result.stdout, result.output
        return result.exit_code, json.loads(result.stdout)

    def cards(self, count: int, **kinds: Any) -> list[LoyaltyCard]:
        """Due cards with a Google object only, unless ``kinds`` says otherwise."""
        options = {"google": True, "apple": False, **kinds}
        with session_scope(self.pipeline.settings.database_url) as session:
            return [factories.card(session, **options) for _ in range(count)]


@pytest.fixture
def cli(pipeline: Harness) -> Iterator[Cli]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield Cli(pipeline, environment_of(pipeline.settings))
    root.handlers[:] = handlers
    root.setLevel(level)
