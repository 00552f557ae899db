"""``python -m benchmarks``: the suite, its parameters and its printed report.

Quick mode (the default) keeps to a few minutes on two cores by using fewer
cards where the issue allows it, and says so in the setup it prints. ``--full``
uses the full sizes. ``python -m benchmarks finder-scale`` is the long,
separate case of a million cards (see :mod:`benchmarks.scale_suite`).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import data, drain, enqueue, env, naive, show, verdicts
from benchmarks import report as rp
from benchmarks.drain import Drain, Fault

CONCURRENCIES = ((1, 8), (2, 8), (2, 32))
LATENCY_MS = 50.0
FAULT = Fault(rate=0.05, seed=20261203)


@dataclass(frozen=True)
class Params:
    mode: str
    enqueue_cards: int
    latency_cards: int
    cpu_cards: int
    naive_cards: int
    reps: int
    enqueue_reps: int

    @classmethod
    def for_mode(cls, full: bool, reps: int | None) -> Params:
        if full:
            return cls("full", 10_000, 10_000, 20_000, 200, reps or 1, 3)
        return cls("quick", 10_000, 1_000, 2_000, 60, reps or 1, 3)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the pipeline against bare Dramatiq, in one run.",
    )
    parser.add_argument(
        "case",
        nargs="?",
        default="suite",
        choices=["suite", "finder-scale"],
        help="suite (default) or the long million-card finder case",
    )
    parser.add_argument("--full", action="store_true", help="full sizes (slow)")
    parser.add_argument("--reps", type=int, help="repetitions of the drain runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--cards", type=int, default=1_000_000, help="finder-scale")
    parser.add_argument(
        "--transactions", type=int, default=10_000_000, help="finder-scale"
    )
    parser.add_argument(
        "--due",
        default="100000,1000000",
        help="finder-scale: due cards per finder run, comma-separated",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    from pipeline import logs

    logs.configure("WARNING", "console")  # the driver's own lines would interleave
    if args.case == "finder-scale":
        from benchmarks import scale_suite

        due = [int(part) for part in args.due.split(",")]
        results = scale_suite.main(args.cards, args.transactions, due)
    else:
        results = suite(Params.for_mode(args.full, args.reps))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


def suite(params: Params) -> dict[str, Any]:
    started = time.monotonic()
    setup = {"machine": env.machine(), "parameters": asdict(params)}
    _print_setup(setup, params)
    with env.world() as world:
        _prepare(world, params)
        world.adopt()
        results = _measure(world, params)
    checked = verdicts.suite(results)
    print("\n== targets")
    rp.print_verdicts(checked)
    print(f"\nsuite took {time.monotonic() - started:.0f} s")
    return {
        **setup,
        "results": _jsonable(results),
        "verdicts": [asdict(verdict) for verdict in checked],
    }


def _print_setup(setup: dict[str, Any], params: Params) -> None:
    print("== setup")
    for key, value in setup["machine"].items():
        print(f"{key:>22}: {value}")
    print(f"{'mode':>22}: {params.mode}")
    print(
        f"{'cards':>22}: finder {params.enqueue_cards}, latency runs "
        f"{params.latency_cards}, CPU/memory run {params.cpu_cards}, naive loop "
        f"{params.naive_cards} (extrapolated to 1000)"
    )
    if params.mode == "quick":
        print(
            f"{'':>22}  quick mode: latency runs use {params.latency_cards} cards "
            f"instead of 10000 and the memory run {params.cpu_cards} instead of "
            "20000; --full uses the full sizes"
        )
    print(
        f"{'wallet latency':>22}: {LATENCY_MS:.0f} ms per call (emulators in their "
        "own process); calls per card: 1 PATCH (Google-only cards whose objects "
        "exist)"
    )
    print(
        f"{'faults':>22}: {FAULT.rate:.0%} of PATCHes answer {FAULT.status} "
        f"(seed {FAULT.seed}); retries 1 s / 4 s / 16 s"
    )
    print(f"{'repetitions':>22}: drains {params.reps}, enqueue {params.enqueue_reps}")


def _prepare(world: env.World, params: Params) -> None:
    """All cards in the database; objects in the emulator for those synced."""
    environment = world.env
    issuer = environment["WALLET_SYNC_GOOGLE_ISSUER_ID"]
    cards = max(params.enqueue_cards, params.latency_cards, params.cpu_cards)
    data.make_cards(world.database_url, cards, issuer)
    token = data.google_token(environment["WALLET_SYNC_GOOGLE_CREDENTIALS_FILE"])
    world.extra["WALLET_SYNC_BENCH_GOOGLE_TOKEN"] = token
    synced = max(params.latency_cards, params.cpu_cards, params.naive_cards)
    started = time.monotonic()
    data.prime_objects(environment["WALLET_SYNC_GOOGLE_API_URL"], token, issuer, synced)
    print(f"\n(primed {synced} objects in {time.monotonic() - started:.1f} s)")


def _measure(world: env.World, params: Params) -> dict[str, Any]:
    results: dict[str, Any] = {}
    print("\n== 1. finder enqueue")
    results["enqueue"] = enqueue.measure(
        world, params.enqueue_cards, params.enqueue_reps
    )
    show.enqueue(results["enqueue"])
    print("\n== 2. latency-bound throughput (wall time, run opened → report)")
    results["latency"] = _latency_runs(world, params)
    print("\n== 3/6. CPU and memory (emulators answering at once, 1x8)")
    results["cpu"] = [
        drain.run_pipeline(world, 1, 8, params.cpu_cards, latency_ms=0),
        drain.run_bare(world, 1, 8, params.cpu_cards, latency_ms=0),
    ]
    show.cpu(results["cpu"])
    print("\n== 4. failure tail (2x8, 5 % transient failures)")
    results["failures"] = _failure_runs(world, params, results["latency"])
    print("\n== 7. naive baseline (one process, blocking retries)")
    results["naive"] = naive.measure(world, params.naive_cards, LATENCY_MS, FAULT)
    show.naive(results["naive"], results["failures"]["thousand"])
    return results


def _latency_runs(world: env.World, params: Params) -> list[Drain]:
    runs: list[Drain] = []
    for _ in range(params.reps):
        for processes, threads in CONCURRENCIES:
            for run in (drain.run_pipeline, drain.run_bare):
                result = run(
                    world,
                    processes,
                    threads,
                    params.latency_cards,
                    latency_ms=LATENCY_MS,
                )
                runs.append(result)
                show.drain(result)
    print(rp.table(show.LATENCY_HEADERS, show.latency_table(runs)))
    return runs


def _failure_runs(
    world: env.World, params: Params, latency: list[Drain]
) -> dict[str, Any]:
    cards = params.latency_cards
    failing = drain.run_pipeline(world, 2, 8, cards, latency_ms=LATENCY_MS, fault=FAULT)
    clean = [r for r in latency if r.kind == "pipeline" and r.label().endswith("2x8")]
    out: dict[str, Any] = {
        "run": failing,
        "clean_wall_s": rp.median([r.wall_s for r in clean]),
    }
    out["analysis"] = rp.analyse_failures(failing)
    show.failures(out)
    out["thousand"] = failing
    if cards != 1000:
        out["thousand"] = drain.run_pipeline(
            world, 2, 8, 1000, latency_ms=LATENCY_MS, fault=FAULT
        )
    return out


def _jsonable(results: dict[str, Any]) -> dict[str, Any]:
    """The results without request logs, ready for ``json.dumps``."""

    def plain(value: Any) -> Any:
        if isinstance(value, Drain):
            return {k: v for k, v in asdict(value).items() if k != "log"}
        if isinstance(value, list):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if hasattr(value, "__dataclass_fields__"):
            fields = asdict(value)
            fields.pop("failures_per_card", None)
            return fields
        return value

    return {key: plain(value) for key, value in results.items()}
