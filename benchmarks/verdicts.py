"""Each target of the suite against what this run measured."""

from __future__ import annotations

from typing import Any

from benchmarks import report as rp
from benchmarks.drain import Drain

WALL_LIMITS = {"1x8": 1.10, "2x8": 1.10, "2x32": 1.25}
BARE_LIMIT = 1.05
CPU_LIMIT = 1.5
RSS_LIMIT_MIB = 60.0
RSS_GROWTH_MIB = 5.0
SPEEDUP = 15.0


def suite(results: dict[str, Any]) -> list[rp.Verdict]:
    verdicts = [_enqueue(results["enqueue"])]
    verdicts += _latency(results["latency"])
    verdicts.append(_cpu(results["cpu"]))
    verdicts += _failures(results["failures"])
    pipeline_runs = [
        r for r in results["latency"] + results["cpu"] if r.kind == "pipeline"
    ]
    verdicts.append(rp.rss_verdicts(pipeline_runs, RSS_LIMIT_MIB, RSS_GROWTH_MIB))
    verdicts.append(_naive(results["naive"], results["failures"]["thousand"]))
    return verdicts


def _enqueue(times: Any) -> rp.Verdict:
    finder = rp.median(times.seconds["finder"])
    loop = rp.median(times.seconds["send() loop"])
    pipelined = rp.median(times.seconds["pipelined bare"])
    return rp.Verdict(
        f"1. finder {times.cards} cards < 0.5x bare send() loop",
        f"{finder:.2f} s vs {loop:.2f} s = {finder / loop:.2f}x",
        finder < 0.5 * loop,
        f"{finder / pipelined:.1f}x the pipelined bare send ({pipelined:.2f} s)",
    )


def _latency(runs: list[Drain]) -> list[rp.Verdict]:
    verdicts = []
    for label, limit in WALL_LIMITS.items():
        pipe = [r for r in runs if r.label() == f"pipeline {label}"]
        bare = [r for r in runs if r.label() == f"bare {label}"]
        wall = rp.median([r.wall_s for r in pipe])
        ideal = rp.ideal_s(pipe[0])
        bare_wall = rp.median([r.wall_s for r in bare])
        verdicts.append(
            rp.Verdict(
                f"2. {label} wall ≤ {limit:.2f}x ideal",
                f"{wall:.2f} s / {ideal:.2f} s = {wall / ideal:.2f}x",
                wall <= limit * ideal,
                f"bare {bare_wall / ideal:.2f}x",
            )
        )
        verdicts.append(
            rp.Verdict(
                f"2. {label} wall ≤ {BARE_LIMIT:.2f}x bare actor",
                f"{wall:.2f} s / {bare_wall:.2f} s = {wall / bare_wall:.2f}x",
                wall <= BARE_LIMIT * bare_wall,
            )
        )
    return verdicts


def _cpu(runs: list[Drain]) -> rp.Verdict:
    pipeline, bare = runs
    ratio = pipeline.cpu_ms_per_card / bare.cpu_ms_per_card
    return rp.Verdict(
        f"3. worker CPU per card ≤ {CPU_LIMIT}x bare",
        f"{pipeline.cpu_ms_per_card:.2f} vs {bare.cpu_ms_per_card:.2f} ms = "
        f"{ratio:.2f}x",
        ratio <= CPU_LIMIT,
    )


def _failures(out: dict[str, Any]) -> list[rp.Verdict]:
    run: Drain = out["run"]
    analysis: rp.FailureAnalysis = out["analysis"]
    extra = run.wall_s - out["clean_wall_s"]
    return [
        rp.Verdict(
            "4. failures add ≤ longest chain's waits + pickup",
            f"+{extra:.2f} s (allowed {analysis.allowed_extra_s:.0f} s)",
            extra <= analysis.allowed_extra_s,
            f"blocking waits would need ≥ {rp.blocking_floor_s(run, analysis):.1f} s",
        ),
        rp.Verdict(
            "4. report exact under failures",
            "exact" if analysis.report_exact else analysis.mismatch,
            analysis.report_exact,
        ),
    ]


def _naive(result: Any, pipeline: Drain) -> rp.Verdict:
    extrapolated = result.extrapolated_s(1000)
    return rp.Verdict(
        f"7. 2x8 ≥ {SPEEDUP:.0f}x the naive loop (1000 cards, 5 %)",
        f"{extrapolated:.0f} s (extrapolated from {result.cards}) / "
        f"{pipeline.wall_s:.1f} s = {extrapolated / pipeline.wall_s:.1f}x",
        extrapolated / pipeline.wall_s >= SPEEDUP,
        f"model {result.model_s(1000, 0.05):.0f} s",
    )
