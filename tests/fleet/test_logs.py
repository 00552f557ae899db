"""What the workers log: one line per card and per run, context on every
line of a message's work, and never a credential."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fleet.conftest import Fleet

#: Tokens the Google emulator issues start like Google's own.
ACCESS_TOKEN_PREFIX = "ya29."


def key_material(fleet: Fleet) -> list[str]:
    """Distinctive lines of every private key and certificate the workers hold."""
    settings = fleet.settings
    assert settings.google_credentials_file is not None
    assert settings.apns_key_file is not None
    assert settings.apns_cert_file is not None
    account = json.loads(settings.google_credentials_file.read_text())
    pems = [
        account["private_key"],
        settings.apns_key_file.read_text(),
        settings.apns_cert_file.read_text(),
    ]
    lines = [
        line
        for pem in pems
        for line in pem.splitlines()
        if line and not line.startswith("-----")
    ]
    return [account["private_key_id"], *lines]


def test_a_debug_run_logs_context_and_outcomes_but_no_secret(fleet: Fleet) -> None:
    """DEBUG output of a run with retries: no token, key or certificate in it."""
    plan = fleet.seed(60)
    worker = fleet.start(processes=1, threads=4, WALLET_SYNC_LOG_LEVEL="DEBUG")
    fleet.wait_ready(worker)
    run_id = fleet.start_run()
    report = fleet.report(run_id)
    fleet.stop()

    text = Path(worker.log_file).read_text()
    assert ACCESS_TOKEN_PREFIX not in text
    assert "Bearer" not in text
    assert "BEGIN" not in text
    leaked = [line for line in key_material(fleet) if line in text]
    assert leaked == []

    events = worker.events()
    finished = [e for e in events if e["event"] in ("card.finished", "card.failed")]
    assert sorted(e["card_id"] for e in finished) == list(range(1, 61))
    assert all(e["run_id"] == run_id for e in finished)
    # The attempt bound to the message's lines is the ledger's count too.
    synced = [e for e in finished if e["event"] == "card.finished"]
    assert all(e["attempt"] == e["attempts"] for e in synced)
    assert max(e["attempts"] for e in synced) > 1
    (run_line,) = [e for e in events if e["event"] == "run.finished"]
    assert run_line["failed_card_ids"] == report["failed_card_ids"]
    retries = [e for e in events if e["event"] == "message.retry_scheduled"]
    assert retries, "the plan's transient faults cause retries"
    for event in retries:
        assert {"message_id", "card_id", "run_id", "attempt"} <= event.keys()
        assert event["attempt"] == event["next_attempt"] - 1
    attempts_seen = {e["attempt"] for e in retries}
    assert attempts_seen >= {1, 2}
    assert plan["failing_card_ids"] == report["failed_card_ids"]
