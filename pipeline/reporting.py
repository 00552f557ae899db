"""Run reports for people and scripts: lists of runs and one run in detail.

A closed run's report is stored by the collector (``ledger.close_run``); this
module adds what an operator needs next to it: each failed card with its error
kind, last error message and attempts, the cards still pending while a run is
open, and what each failure kind means (:mod:`pipeline.advice`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from pipeline import ledger, runs
from pipeline.advice import advice_by_kind
from pipeline.db import session_scope
from pipeline.errors import RunNotFound
from pipeline.models import OutcomeStatus, RunStatus, SyncOutcome, SyncRun, utcnow
from pipeline.settings import Settings

#: Failed cards and pending ids shown in a table; --json always has them all.
SHOWN_IN_TABLE = 20


def list_runs(
    session: Session, *, limit: int, status: str | None = None
) -> list[dict[str, Any]]:
    """The newest runs first, each with its counts so far."""
    query = select(SyncRun).order_by(SyncRun.opened_at.desc(), SyncRun.id.desc())
    if status is not None:
        query = query.where(SyncRun.status == status)
    runs = list(session.scalars(query.limit(limit)))
    failed = _failed_counts(session, [run.id for run in runs])
    return [_run_row(run, failed.get(run.id, 0)) for run in runs]


def _failed_counts(session: Session, run_ids: list[int]) -> dict[int, int]:
    if not run_ids:
        return {}
    is_failed = case((SyncOutcome.status == OutcomeStatus.FAILED, 1), else_=0)
    rows = session.execute(
        select(SyncOutcome.run_id, func.sum(is_failed))
        .where(SyncOutcome.run_id.in_(run_ids))
        .group_by(SyncOutcome.run_id)
    ).all()
    return {run_id: int(count or 0) for run_id, count in rows}


def _run_row(run: SyncRun, failed: int) -> dict[str, Any]:
    finished = run.finished_at
    duration = ((finished or utcnow()) - run.opened_at).total_seconds()
    report = run.report or {}
    return {
        "run_id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "closed_by": report.get("status"),
        "started_at": run.opened_at.isoformat(),
        "finished_at": finished.isoformat() if finished else None,
        "duration_s": round(duration, 3),
        "cards_total": run.cards_total,
        "cards_pending": run.cards_pending if run.status != RunStatus.CLOSED else 0,
        "cards_failed": failed,
        "failure_rate": round(failed / run.cards_total, 4) if run.cards_total else 0.0,
    }


def latest_run_id(session: Session) -> int | None:
    """The most recently opened run, if there is any."""
    return session.scalar(
        select(SyncRun.id)
        .order_by(SyncRun.opened_at.desc(), SyncRun.id.desc())
        .limit(1)
    )


def run_detail(
    session: Session, run_id: int, thresholds: ledger.Thresholds
) -> dict[str, Any]:
    """One run's report with its failures, pending cards and advice.

    A closed run shows the report the collector stored; a run still open
    shows the same fields computed from its outcomes so far.
    """
    run = session.get(SyncRun, run_id)
    if run is None:
        raise RunNotFound(run_id)
    if run.status == RunStatus.CLOSED and run.report is not None:
        detail = dict(run.report)
    else:
        detail = ledger.build_report(session, run, thresholds, by_deadline=False)
        detail["status"] = run.status
        detail["finished_at"] = None
    detail["run_status"] = run.status
    failures = _failures(session, run_id)
    detail["failures"] = failures
    detail["pending_card_ids"] = _pending(session, run_id)
    detail["cards_pending"] = len(detail["pending_card_ids"])
    detail["advice"] = advice_by_kind([f["error_kind"] for f in failures])
    return detail


def _failures(session: Session, run_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(SyncOutcome)
        .where(
            SyncOutcome.run_id == run_id,
            SyncOutcome.status == OutcomeStatus.FAILED,
        )
        .order_by(SyncOutcome.card_id)
    )
    return [
        {
            "card_id": row.card_id,
            "error_kind": row.error_kind or "unexpected",
            "error_message": row.error_message,
            "attempts": row.attempts,
            "wallet": row.wallet,
            "failed_at": row.updated_at.isoformat(),
        }
        for row in rows
    ]


def _pending(session: Session, run_id: int) -> list[int]:
    return list(
        session.scalars(
            select(SyncOutcome.card_id)
            .where(
                SyncOutcome.run_id == run_id,
                SyncOutcome.status == OutcomeStatus.PENDING,
            )
            .order_by(SyncOutcome.card_id)
        )
    )


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as aligned ``label  value`` lines."""
    failed = report["failed_card_ids"]
    shown = ", ".join(str(card_id) for card_id in failed[:SHOWN_IN_TABLE])
    if len(failed) > SHOWN_IN_TABLE:
        shown += f", … ({len(failed) - SHOWN_IN_TABLE} more)"
    kinds = ", ".join(f"{kind}: {n}" for kind, n in report["errors_by_kind"].items())
    rows = [
        ("run", f"{report['run_id']} ({report['trigger']}, {report['status']})"),
        ("started", report["started_at"]),
        ("finished", report["finished_at"] or "still open"),
        ("duration", f"{report['duration_s']:.1f} s"),
        ("cards", report["cards_total"]),
        ("synced", report["cards_synced"]),
        ("failed", report["cards_failed"]),
        ("failure rate", f"{report['failure_rate']:.2%}"),
        ("errors by kind", kinds or "none"),
        ("failed card ids", shown or "none"),
    ]
    if report.get("cards_pending"):
        rows.insert(7, ("pending", report["cards_pending"]))
    if report.get("missed_hours"):
        rows.append(("missed hours", report["missed_hours"]))
    if report["alert"] or report["systemic"]:
        rows.append(("alert", _alert_text(report)))
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def detail_lines(detail: dict[str, Any]) -> list[str]:
    """:func:`report_lines`, then the failures, pending cards and advice."""
    lines = report_lines(detail)
    failures = detail["failures"]
    if failures:
        lines += ["", "failed cards:"]
        lines += table_lines(
            ["card", "kind", "attempts", "wallet", "last error"],
            [
                [
                    f["card_id"],
                    f["error_kind"],
                    f["attempts"],
                    f["wallet"] or "-",
                    f["error_message"] or "-",
                ]
                for f in failures[:SHOWN_IN_TABLE]
            ],
        )
        if len(failures) > SHOWN_IN_TABLE:
            more = len(failures) - SHOWN_IN_TABLE
            lines.append(f"… {more} more failed cards (all of them with --json)")
    pending = detail["pending_card_ids"]
    if pending:
        shown = ", ".join(str(card_id) for card_id in pending[:SHOWN_IN_TABLE])
        extra = len(pending) - SHOWN_IN_TABLE
        lines += [
            "",
            f"still pending: {shown}" + (f", … ({extra} more)" if extra > 0 else ""),
        ]
    for kind, advice in detail["advice"].items():
        lines += [
            "",
            f"{kind}: {advice['meaning']}",
            f"  what to do: {advice['action']}",
        ]
    return lines


def runs_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Runs as a table, newest first."""
    return table_lines(
        ["run", "trigger", "started", "duration", "cards", "failed", "rate", "status"],
        [
            [
                row["run_id"],
                row["trigger"],
                _short_time(row["started_at"]),
                f"{row['duration_s']:.1f} s",
                row["cards_total"],
                row["cards_failed"],
                f"{row['failure_rate']:.1%}",
                _run_status(row),
            ]
            for row in rows
        ],
    )


def _run_status(row: dict[str, Any]) -> str:
    if row["status"] != RunStatus.CLOSED:
        return f"{row['status']} ({row['cards_pending']} pending)"
    return "closed by deadline" if row["closed_by"] == "deadline" else "closed"


def _short_time(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")


def table_lines(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """Left-aligned columns with a header; the last column is never padded."""
    cells = [headers, *[[str(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    return [
        "  ".join(
            [
                *(
                    value.ljust(width)
                    for value, width in zip(row[:-1], widths, strict=True)
                ),
                row[-1],
            ]
        ).rstrip()
        for row in cells
    ]


def _alert_text(report: dict[str, Any]) -> str:
    parts = []
    if report["alert"]:
        parts.append("failure rate above threshold")
    if report["systemic"]:
        parts.append("many cards failed: likely a systemic problem")
    return "; ".join(parts)


def wait_for_outcomes(
    settings: Settings, run_id: int, timeout_s: float
) -> dict[str, Any]:
    """Each card's outcome once the run closes, or so far at the timeout."""
    report = runs.wait_for_report(settings, run_id, timeout_s=timeout_s)
    with session_scope(settings.database_url) as session:
        cards = card_outcomes(session, run_id)
    return {"run_id": run_id, "closed": report is not None, "cards": cards}


def card_outcomes(session: Session, run_id: int) -> list[dict[str, Any]]:
    """Every card of the run with its outcome so far, in card order."""
    rows = session.scalars(
        select(SyncOutcome)
        .where(SyncOutcome.run_id == run_id)
        .order_by(SyncOutcome.card_id)
    )
    return [
        {
            "card_id": row.card_id,
            "status": row.status,
            "error_kind": row.error_kind,
            "error_message": row.error_message,
            "attempts": row.attempts,
            "wallet": row.wallet,
        }
        for row in rows
    ]


def outcome_lines(outcomes: list[dict[str, Any]]) -> list[str]:
    """Cards and their outcomes as a table, with the error of each failure."""
    return table_lines(
        ["card", "outcome", "attempts", "kind", "error"],
        [
            [
                o["card_id"],
                o["status"],
                o["attempts"],
                o["error_kind"] or "-",
                o["error_message"] or "-",
            ]
            for o in outcomes
        ],
    )
