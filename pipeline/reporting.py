"""Run reports for people: a compact table of what a run did."""

from __future__ import annotations

from typing import Any


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as aligned ``label  value`` lines."""
    failed = report["failed_card_ids"]
    shown = ", ".join(str(card_id) for card_id in failed[:20])
    if len(failed) > 20:
        shown += f", … ({len(failed) - 20} more)"
    kinds = ", ".join(f"{kind}: {n}" for kind, n in report["errors_by_kind"].items())
    rows = [
        ("run", f"{report['run_id']} ({report['trigger']}, {report['status']})"),
        ("started", report["started_at"]),
        ("finished", report["finished_at"]),
        ("duration", f"{report['duration_s']:.1f} s"),
        ("cards", report["cards_total"]),
        ("synced", report["cards_synced"]),
        ("failed", report["cards_failed"]),
        ("failure rate", f"{report['failure_rate']:.2%}"),
        ("errors by kind", kinds or "none"),
        ("failed card ids", shown or "none"),
    ]
    if report.get("missed_hours"):
        rows.append(("missed hours", report["missed_hours"]))
    if report["alert"] or report["systemic"]:
        rows.append(("alert", _alert_text(report)))
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def _alert_text(report: dict[str, Any]) -> str:
    parts = []
    if report["alert"]:
        parts.append("failure rate above threshold")
    if report["systemic"]:
        parts.append("many cards failed: likely a systemic problem")
    return "; ".join(parts)
