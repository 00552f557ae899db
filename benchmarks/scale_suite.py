"""``python -m benchmarks finder-scale``: the long case, printed like the suite."""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from benchmarks import env, scale
from benchmarks import report as rp

PEAK_LIMIT_MIB = 200.0
SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")
INDEX_SCAN = re.compile(r"(Index Only Scan|Index Scan|Bitmap Index Scan) using (\w+)")


def main(cards: int, transactions: int, due: list[int]) -> dict[str, Any]:
    started = time.monotonic()
    setup = {
        "machine": env.machine(),
        "parameters": {"cards": cards, "transactions": transactions, "due": due},
    }
    print("== setup")
    for key, value in {**setup["machine"], **setup["parameters"]}.items():
        print(f"{key:>22}: {value}")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(TemporaryDirectory(prefix="wsbench-scale-")))
        url = stack.enter_context(env.private_schema("wsbench_scale"))
        namespace = stack.enter_context(env.private_namespace("wsbench-scale"))
        world = env.World(folder, url, namespace, {})
        world.adopt()
        results = _measure(world, cards, transactions, due)
    verdicts = _verdicts(results)
    print("\n== targets")
    rp.print_verdicts(verdicts)
    print(f"\nfinder-scale took {time.monotonic() - started:.0f} s")
    return {**setup, "results": results, "verdicts": [v.__dict__ for v in verdicts]}


def _measure(
    world: env.World, cards: int, transactions: int, due: list[int]
) -> dict[str, Any]:
    print("\n== loading (server-side generate_series)")
    timings = scale.load(world, cards, transactions)
    for step, seconds in timings.items():
        print(f"{step:>22}: {seconds:.1f} s")
    results: dict[str, Any] = {"load_s": timings, "runs": []}
    for count in due:
        print(f"\n== finder over {count} due cards of {cards}")
        prepare_s = scale.make_due(world, count)
        run = scale.run_finder(world)
        scale.clear_queues(world)
        plans = scale.explain(world)
        run.update(prepare_s=round(prepare_s, 1), due=count, plans=plans)
        results["runs"].append(run)
        _print_run(run)
    return results


def _print_run(run: dict[str, Any]) -> None:
    per_card = 1e6 * run["seconds"] / max(run["cards"], 1)
    print(
        f"enqueued {run['cards']} cards in {run['seconds']:.2f} s "
        f"({per_card:.1f} µs/card); finder process RSS {run['rss_before_mib']} MiB "
        f"before, peak {run['rss_peak_mib']} MiB"
    )
    for name, plan in run["plans"].items():
        print(f"-- EXPLAIN (ANALYZE, BUFFERS) of {name}")
        print(plan)


def _verdicts(results: dict[str, Any]) -> list[rp.Verdict]:
    runs = results["runs"]
    peaks = [run["rss_peak_mib"] for run in runs]
    verdicts = [
        rp.Verdict(
            f"5. finder peak RSS < {PEAK_LIMIT_MIB:.0f} MiB, flat",
            ", ".join(f"{r['due']} due: {r['rss_peak_mib']} MiB" for r in runs),
            max(peaks) < PEAK_LIMIT_MIB,
            f"spread {max(peaks) - min(peaks):.1f} MiB",
        )
    ]
    for run in runs:
        text = "\n".join(run["plans"].values())
        seq = sorted(set(SEQ_SCAN.findall(text)))
        indexes = sorted({f"{kind} {name}" for kind, name in INDEX_SCAN.findall(text)})
        verdicts.append(
            rp.Verdict(
                f"5. plans at {run['due']} due: index scans, no seq scan of "
                "point_transactions",
                "; ".join(indexes) + (f"; seq scan of {', '.join(seq)}" if seq else ""),
                "point_transactions" not in seq and bool(indexes),
                "seq scans elsewhere: " + ", ".join(seq) if seq else "",
            )
        )
    return verdicts
