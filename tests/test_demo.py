"""``wallet-sync demo``: one command, SQLite, the in-process broker, emulators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent


def demo(
    *args: str, schedule_ms: str | None = "40,80,160"
) -> tuple[dict[str, Any], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLET_SYNC_")}
    if schedule_ms:
        env["WALLET_SYNC_RETRY_SCHEDULE_MS"] = schedule_ms
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "wallet-sync"), "demo", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), elapsed


def test_the_demo_reports_exactly_the_planned_failures() -> None:
    """Failing cards are reported failed; recovering ones are not."""
    result, _ = demo("--cards", "120", "--seed", "4")

    report, plan = result["report"], result["plan"]
    assert report["failed_card_ids"] == plan["failing_card_ids"]
    assert plan["failing_card_ids"]
    assert plan["recovering_card_ids"]
    assert not set(report["failed_card_ids"]) & set(plan["recovering_card_ids"])
    assert report["cards_total"] == 120
    assert report["cards_synced"] + report["cards_failed"] == 120


def test_the_same_seed_gives_the_same_plan() -> None:
    """Two demos with one seed plan the same faults for the same cards."""
    first, _ = demo("--cards", "40", "--seed", "9")
    second, _ = demo("--cards", "40", "--seed", "9")

    assert first["plan"] == second["plan"]
    assert first["report"]["failed_card_ids"] == second["report"]["failed_card_ids"]


@pytest.mark.slow
def test_five_hundred_cards_finish_in_a_minute_on_the_real_schedule() -> None:
    """With waits of 1 s, 4 s and 16 s, 500 cards still take under a minute."""
    result, elapsed = demo("--cards", "500", "--seed", "1", schedule_ms=None)

    assert result["report"]["failed_card_ids"] == result["plan"]["failing_card_ids"]
    assert elapsed < 60
