"""``wallet-sync status``: would a run work now, and if not, why."""

from __future__ import annotations

import typer

from pipeline import health, reporting
from pipeline.cli.app import Exit, app, emit_json
from pipeline.cli.common import JsonOption, echo_lines, flowing_help, quiet_logs
from pipeline.settings import get_settings

#: The exit code of the most serious failed check wins, in this order.
_EXIT_FOR_CAUSE = (
    (health.Cause.UNAVAILABLE, Exit.UNAVAILABLE),
    (health.Cause.NOT_READY, Exit.NOT_READY),
    (health.Cause.MISCONFIGURED, Exit.FAILED),
)


def exit_code(checks: list[health.Check]) -> Exit:
    """OK unless a check failed; then the code of its cause (see README)."""
    causes = {check.cause for check in checks if check.level is health.Level.FAILED}
    for cause, code in _EXIT_FOR_CAUSE:
        if cause in causes:
            return code
    return Exit.OK


@app.command()
@flowing_help
def status(json_output: JsonOption = False) -> None:
    """Check everything a run needs, and say what to fix.

    Checked: the database and its schema, Redis, queue depths and live worker
    processes, Google credentials, token and issuer, and the APNs certificate
    (key, topic, expiry, TLS handshake).

    Exits 0 when a run would work (warnings included); 4 when the database,
    Redis or a wallet API cannot be reached, or messages wait and no worker
    is running; 5 when the schema is behind; 1 when a setting, key or
    certificate is wrong.

    Example: wallet-sync status --json
    """
    settings = get_settings()
    quiet_logs(settings)
    checks = health.check_all(settings)
    code = exit_code(checks)
    if json_output:
        emit_json(
            {
                "ok": code is Exit.OK,
                "exit_code": int(code),
                "checks": [check.as_dict() for check in checks],
            }
        )
    else:
        echo_lines(
            reporting.table_lines(
                ["check", "state", "detail"],
                [[c.name, c.level.value, c.detail] for c in checks],
            )
        )
        typer.echo("")
        typer.echo(_summary(checks, code))
    raise typer.Exit(int(code))


def _summary(checks: list[health.Check], code: Exit) -> str:
    failed = [c.name for c in checks if c.level is health.Level.FAILED]
    warned = [c.name for c in checks if c.level is health.Level.WARNING]
    if failed:
        return f"a run would fail: {', '.join(failed)} (exit {int(code)})"
    if warned:
        return f"ready, with warnings: {', '.join(warned)}"
    return "ready: every check passed"
