"""Settings: one place, typed, and all of them documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_listed_in_the_readme() -> None:
    """README's settings table names each WALLET_SYNC_ variable."""
    text = README.read_text()
    missing = [
        f"WALLET_SYNC_{name.upper()}"
        for name in Settings.model_fields
        if f"`WALLET_SYNC_{name.upper()}`" not in text
    ]
    assert missing == []


def test_the_retry_schedule_is_read_as_comma_separated_milliseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three waits give four attempts."""
    monkeypatch.setenv("WALLET_SYNC_RETRY_SCHEDULE_MS", "10, 20,40")

    settings = Settings()

    assert settings.retry_schedule_ms == (10, 20, 40)
    assert settings.max_attempts == 4


def test_a_malformed_retry_schedule_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative or non-numeric waits are an error at start-up."""
    monkeypatch.setenv("WALLET_SYNC_RETRY_SCHEDULE_MS", "1000,-4")

    with pytest.raises(ValidationError, match="whole milliseconds"):
        Settings()


def test_the_cli_names_a_bad_setting_instead_of_a_traceback() -> None:
    """Exit 5 with the variable's name and what it should be."""
    import os
    import subprocess

    from tests.processes import BIN

    env = {**os.environ, "WALLET_SYNC_RUN_DEADLINE_S": "-5"}
    done = subprocess.run(
        [str(BIN / "wallet-sync"), "runs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 5
    assert "WALLET_SYNC_RUN_DEADLINE_S" in done.stderr
    assert "Traceback" not in done.stderr
