"""The failure-kind advice: every kind described, every command it names real."""

from __future__ import annotations

import re

from typer.testing import CliRunner

import pipeline.cli.commands  # noqa: F401  (registers the commands)
from pipeline import errors, ledger
from pipeline.advice import ADVICE, UNKNOWN, advice_for
from pipeline.cli import app

_COMMAND = re.compile(r"`wallet-sync ([^`]+)`")


def _kinds_of(cls: type[errors.WalletSyncError]) -> set[str]:
    kinds = {cls.kind}
    for sub in cls.__subclasses__():
        kinds |= _kinds_of(sub)
    return kinds


def test_every_failure_kind_a_report_can_hold_has_advice() -> None:
    """The error tree's kinds and the ledger's and actors' own are described."""
    kinds = _kinds_of(errors.WalletSyncError) - {"run_not_found"}
    kinds |= {ledger.LOST, ledger.CRASHED, "malformed_message", "dead_lettered"}

    assert {kind for kind in kinds if advice_for(kind) is UNKNOWN} == set()


def test_every_command_the_advice_names_exists_with_its_options() -> None:
    """Each `wallet-sync …` in an action parses: command and options are real."""
    named = {
        match for advice in ADVICE.values() for match in _COMMAND.findall(advice.action)
    }
    assert named
    runner = CliRunner()
    for command in sorted(named):
        words = command.split()
        path = words[:2] if words[0] == "dlq" else words[:1]
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, command
        for option in (w for w in words if w.startswith("--")):
            assert option in result.stdout, command


def test_a_deleted_cards_advice_purges_only_that_cards_dead_letters() -> None:
    """Not a bare `dlq purge`, which with --yes deletes every dead letter."""
    action = advice_for("card_not_found").action

    assert "`wallet-sync dlq purge --card ID --yes`" in action


def test_lost_advice_names_the_database_outage_and_its_remedy() -> None:
    """A final failure the database could not record ends as lost."""
    advice = advice_for(ledger.LOST)

    assert "message.dead_letter_hook_failed" in advice.meaning
    assert "`wallet-sync dlq requeue --all`" in advice.action
