"""``--help`` of the operator commands reads as prose."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import pipeline.cli.commands  # noqa: F401  (registers the commands)
from pipeline.cli import app

OPERATOR_COMMANDS = [
    ["sync-card"],
    ["runs"],
    ["report"],
    ["status"],
    ["dlq", "list"],
    ["dlq", "show"],
    ["dlq", "requeue"],
    ["dlq", "purge"],
]


@pytest.mark.parametrize("command", OPERATOR_COMMANDS, ids=" ".join)
def test_help_opens_with_one_sentence_and_rewraps_its_paragraphs(
    command: list[str],
) -> None:
    """The summary is one line of one sentence; no line breaks mid-sentence."""
    wide = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "2000"})

    assert wide.exit_code == 0
    prose = [line.strip() for line in wide.stdout.split("╭")[0].splitlines()]
    paragraphs = [line for line in prose if line and not line.startswith("Usage:")]
    summary = paragraphs[0]
    assert summary.endswith(".")
    assert ". " not in summary.rstrip(".")
    for paragraph in paragraphs:
        assert paragraph.endswith((".", ")")) or "Example:" in paragraph, paragraph
