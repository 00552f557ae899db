"""Turning measurements into ratios, verdicts and printed tables."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from benchmarks.drain import Drain

RETRY_SCHEDULE_S = (1.0, 4.0, 16.0)
PICKUP_ALLOWANCE_S = 1.0  # an idle Dramatiq consumer polls at most 1 s apart
CARD_IN_PATH = re.compile(r"\.bench-(\d+)")


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool
    note: str = ""


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{median(values):.3f} ({min(values):.3f}..{max(values):.3f})"


def ideal_s(drain: Drain, calls_per_card: int = 1) -> float:
    return drain.cards * calls_per_card * drain.latency_ms / 1000 / drain.concurrency


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells
    ]
    return "\n".join(lines)


@dataclass
class FailureAnalysis:
    """What the emulator's request log says about a run with injected faults."""

    failures_per_card: dict[int, int]
    cards_called: int
    longest_chain: int
    waits_s: float
    report_exact: bool
    mismatch: str

    @property
    def chain_wait_s(self) -> float:
        return sum(RETRY_SCHEDULE_S[: min(self.longest_chain, 3)])

    @property
    def allowed_extra_s(self) -> float:
        """Longest chain's scheduled waits plus one pickup per hop and the
        collector's."""
        hops = min(self.longest_chain, 3)
        return self.chain_wait_s + PICKUP_ALLOWANCE_S * (hops + 1)


def analyse_failures(run: Drain) -> FailureAnalysis:
    """Per card, failed calls before success; the report checked against it."""
    calls: dict[int, list[int]] = defaultdict(list)
    for call in sorted(run.log, key=lambda call: call["time"]):
        match = CARD_IN_PATH.search(call["path"])
        if call["method"] == "PATCH" and match:
            calls[int(match.group(1))].append(call["status"])
    failures = {
        card: sum(s >= 500 for s in statuses) for card, statuses in calls.items()
    }
    expected_failed = sorted(
        card for card, statuses in calls.items() if all(s >= 500 for s in statuses)
    )
    report = run.report or {}
    problems = []
    if len(calls) != run.cards:
        problems.append(f"{len(calls)} cards called, {run.cards} due")
    if report.get("cards_total") != run.cards:
        problems.append(f"report counts {report.get('cards_total')} cards")
    if report.get("failed_card_ids") != expected_failed:
        problems.append(
            f"report fails {report.get('failed_card_ids')}, log says {expected_failed}"
        )
    if report.get("cards_synced") != run.cards - len(expected_failed):
        problems.append(f"report syncs {report.get('cards_synced')}")
    waits = sum(sum(RETRY_SCHEDULE_S[: min(n, 3)]) for n in failures.values())
    return FailureAnalysis(
        failures,
        len(calls),
        max(failures.values(), default=0),
        waits,
        not problems,
        "; ".join(problems),
    )


def blocking_floor_s(run: Drain, analysis: FailureAnalysis) -> float:
    """The least wall time if every retry wait held its thread."""
    busy = run.calls * run.latency_ms / 1000 + analysis.waits_s
    return busy / run.concurrency


def rss_verdicts(runs: list[Drain], limit_mib: float, growth_mib: float) -> Verdict:
    worst_idle = max(max(run.rss_idle_mib) for run in runs)
    worst_after = max(max(run.rss_after_mib) for run in runs)
    growth = max(
        after - idle
        for run in runs
        for idle, after in zip(run.rss_idle_mib, run.rss_after_mib, strict=False)
    )
    cards = max(run.cards for run in runs)
    return Verdict(
        f"worker RSS < {limit_mib:.0f} MiB, growth < {growth_mib:.0f} MiB",
        f"idle {worst_idle:.1f} MiB, after {cards} cards {worst_after:.1f} MiB "
        f"(+{growth:.1f})",
        worst_after < limit_mib and growth < growth_mib,
    )


def print_verdicts(verdicts: list[Verdict]) -> None:
    rows = [
        [v.target, v.measured, "met" if v.met else "MISSED", v.note] for v in verdicts
    ]
    print(table(["target", "measured", "verdict", "note"], rows))
