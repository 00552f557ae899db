"""Printing each case's figures as it finishes."""

from __future__ import annotations

from typing import Any

from benchmarks import report as rp
from benchmarks.drain import Drain
from benchmarks.enqueue import EnqueueTimes
from benchmarks.naive import NaiveResult


def enqueue(times: EnqueueTimes) -> None:
    loop = rp.median(times.seconds["send() loop"])
    rows = []
    for method, seconds in times.seconds.items():
        mid = rp.median(seconds)
        rows.append(
            [
                method,
                rp.spread(seconds),
                f"{1e6 * mid / times.cards:.1f}",
                f"{times.cards / mid:,.0f}",
                f"{mid / loop:.2f}",
            ]
        )
    print(
        f"{times.cards} messages, median (min..max) of {len(seconds)} interleaved reps"
    )
    print(rp.table(["method", "seconds", "µs/card", "msgs/s", "÷ send() loop"], rows))


def drain(run: Drain) -> None:
    ideal = rp.ideal_s(run)
    last = f", last outcome {run.last_outcome_s:.2f} s" if run.last_outcome_s else ""
    print(
        f"{run.label():<16} {run.cards} cards: {run.wall_s:7.2f} s "
        f"(ideal {ideal:.2f} s, x{run.wall_s / ideal:.2f}{last}); "
        f"CPU {run.cpu_ms_per_card:.2f} ms/card; startup {run.startup_s:.2f} s"
    )


def latency_table(runs: list[Drain]) -> list[list[Any]]:
    """Per concurrency: median pipeline and bare wall, ratios."""
    rows = []
    for label in sorted({run.label().split()[1] for run in runs}, key=_order):
        pipe = [r.wall_s for r in runs if r.label() == f"pipeline {label}"]
        bare = [r.wall_s for r in runs if r.label() == f"bare {label}"]
        sample = next(r for r in runs if r.label().endswith(label))
        ideal = rp.ideal_s(sample)
        rows.append(
            [
                label,
                sample.cards,
                f"{ideal:.2f}",
                rp.spread(pipe),
                rp.spread(bare),
                f"{rp.median(pipe) / ideal:.3f}",
                f"{rp.median(bare) / ideal:.3f}",
                f"{rp.median(pipe) / rp.median(bare):.3f}",
            ]
        )
    return rows


LATENCY_HEADERS = [
    "procsxthreads",
    "cards",
    "ideal s",
    "pipeline s",
    "bare s",
    "pipeline÷ideal",
    "bare÷ideal",
    "pipeline÷bare",
]


def _order(label: str) -> tuple[int, int]:
    processes, threads = label.split("x")
    return int(processes), int(threads)


def cpu(runs: list[Drain]) -> None:
    rows = [
        [
            run.label(),
            run.cards,
            f"{run.cpu_ms_per_card:.3f}",
            f"{run.wall_s:.2f}",
            ", ".join(f"{v:.1f}" for v in run.rss_idle_mib),
            ", ".join(f"{v:.1f}" for v in run.rss_after_mib),
            f"{run.supervisor_rss_mib:.1f}",
            ", ".join(f"{v:.1f}" for v in run.fork_rss_mib) or "-",
        ]
        for run in runs
    ]
    headers = [
        "run",
        "cards",
        "CPU ms/card",
        "wall s",
        "worker RSS idle MiB",
        "after MiB",
        "supervisor MiB",
        "forks MiB",
    ]
    print(rp.table(headers, rows))
    pipeline, bare = runs
    print(f"pipeline ÷ bare CPU per card: {pipeline.cpu_s / bare.cpu_s:.2f}")


def failures(out: dict[str, Any]) -> None:
    run: Drain = out["run"]
    analysis: rp.FailureAnalysis = out["analysis"]
    extra = run.wall_s - out["clean_wall_s"]
    print(
        f"{run.cards} cards: {run.wall_s:.2f} s with failures vs "
        f"{out['clean_wall_s']:.2f} s without (+{extra:.2f} s); "
        f"{run.failed_calls} of {run.calls} PATCHes failed"
    )
    print(
        f"longest retry chain: {analysis.longest_chain} failed calls "
        f"({analysis.chain_wait_s:.0f} s of scheduled waits; allowed extra "
        f"{analysis.allowed_extra_s:.0f} s with 1 s pickup per hop)"
    )
    print(
        f"if the waits held threads the run could not end before "
        f"{rp.blocking_floor_s(run, analysis):.2f} s "
        f"({analysis.waits_s:.0f} s of waits over {run.concurrency} threads)"
    )
    report = run.report or {}
    print(
        f"report: {report.get('cards_synced')} synced, {report.get('cards_failed')} "
        f"failed {report.get('failed_card_ids')}; exact against the request log: "
        f"{'yes' if analysis.report_exact else 'NO: ' + analysis.mismatch}"
    )


def naive(result: NaiveResult, pipeline: Drain) -> None:
    extrapolated = result.extrapolated_s(1000)
    model = result.model_s(1000, 0.05)
    print(
        f"naive loop, {result.cards} cards: {result.wall_s:.2f} s ({result.calls} "
        f"calls, {result.failed_calls} failed, {result.slept_s:.0f} s asleep, "
        f"{result.call_s * 1000:.1f} ms per call)"
    )
    print(
        f"extrapolated to 1000 cards: {extrapolated:.1f} s "
        f"(closed-form expectation at 5 %: {model:.1f} s)"
    )
    print(
        f"pipeline 2x8, {pipeline.cards} cards with 5 % failures: "
        f"{pipeline.wall_s:.2f} s → {extrapolated / pipeline.wall_s:.1f}x faster "
        f"than the extrapolation, {model / pipeline.wall_s:.1f}x than the model"
    )
