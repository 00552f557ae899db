"""One batch of card syncs through real worker processes, pipeline or bare.

The pipeline run is what production does: ``wallet-sync run`` opens a run, the
finder (a worker) enqueues one message per due card, ``dramatiq workers``
processes sync them against the emulators, and the collector closes the run.
Its wall time goes from opening the run to the report's ``finished_at``.

The bare run enqueues one ``bare_patch`` per card (pipelined, as the finder
does) into idle ``dramatiq benchmarks.bare`` workers and ends when the queue
has no message left (``HLEN`` of the queue's message hash, which counts a
message until it is acked).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchmarks import data, procs
from benchmarks.env import World

IDLE_SETTLE_S = 1.0
POLL_S = 0.02
RSS_SAMPLE_S = 0.5


@dataclass(frozen=True)
class Fault:
    """Transient failures injected into the wallet API."""

    rate: float
    seed: int
    status: int = 503


@dataclass
class Drain:
    """What one batch measured."""

    kind: str
    processes: int
    threads: int
    cards: int
    latency_ms: float
    fault: Fault | None
    wall_s: float = 0.0
    last_outcome_s: float | None = None
    startup_s: float = 0.0
    cpu_s: float = 0.0
    rss_idle_mib: list[float] = field(default_factory=list)
    rss_after_mib: list[float] = field(default_factory=list)
    #: (seconds into the run, worker RSS) sampled while the run goes on
    rss_samples: list[tuple[float, list[float]]] = field(default_factory=list)
    supervisor_rss_mib: float = 0.0
    fork_rss_mib: list[float] = field(default_factory=list)
    calls: int = 0
    failed_calls: int = 0
    report: dict[str, Any] | None = None
    log: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def concurrency(self) -> int:
        return self.processes * self.threads

    @property
    def cpu_ms_per_card(self) -> float:
        return 1000 * self.cpu_s / self.cards

    def label(self) -> str:
        return f"{self.kind} {self.processes}x{self.threads}"


def _arm_emulator(world: World, latency_ms: float, fault: Fault | None) -> None:
    control = world.google_control()
    control.clear_faults()
    control.set_latency(latency_ms)
    if fault is not None:
        control.add_fault(
            "*", fault.status, rate=fault.rate, seed=fault.seed, method="PATCH"
        )
    control.clear_requests()


def _read_calls(world: World, result: Drain) -> None:
    control = world.google_control()
    result.log = [dict(call) for call in control.requests()]
    result.calls = sum(1 for call in result.log if call["method"] == "PATCH")
    result.failed_calls = sum(
        1 for call in result.log if call["method"] == "PATCH" and call["status"] >= 500
    )
    control.clear_faults()
    control.set_latency(0)


def run_pipeline(
    world: World,
    processes: int,
    threads: int,
    cards: int,
    *,
    latency_ms: float,
    fault: Fault | None = None,
    timeout_s: float = 600,
) -> Drain:
    """One run of the real pipeline over ``cards`` due cards."""
    from pipeline import api
    from pipeline.settings import get_settings

    result = Drain("pipeline", processes, threads, cards, latency_ms, fault)
    data.reset_ledger(world.database_url)
    data.make_due(world.database_url, cards)
    _arm_emulator(world, latency_ms, fault)
    log_path = world.workdir / f"pipeline-{processes}x{threads}-{time.time():.0f}.log"
    with procs.workers("workers", processes, threads, world.env, log_path) as group:
        result.startup_s = _settle(group, result)
        cpu_before = group.cpu_seconds()
        started = time.time()
        run_id = api.start_run(get_settings())
        report = _wait_for_report(world, group, run_id, timeout_s, result)
        result.cpu_s = group.cpu_seconds() - cpu_before
        result.rss_after_mib = group.worker_rss_mib()
    result.report = report
    finished = datetime.fromisoformat(report["finished_at"]).timestamp()
    result.wall_s = finished - started
    result.last_outcome_s = _last_outcome(world.database_url, run_id) - started
    _read_calls(world, result)
    return result


def run_bare(
    world: World,
    processes: int,
    threads: int,
    cards: int,
    *,
    latency_ms: float,
    timeout_s: float = 600,
) -> Drain:
    """The same cards through bare actors doing the same HTTP call."""
    from benchmarks import bare
    from pipeline.enqueue import send_many

    if bare.broker.namespace != world.namespace:
        raise RuntimeError("import benchmarks.bare only after World.adopt()")
    result = Drain("bare", processes, threads, cards, latency_ms, None)
    _arm_emulator(world, latency_ms, None)
    log_path = world.workdir / f"bare-{processes}x{threads}-{time.time():.0f}.log"
    with procs.workers(
        "benchmarks.bare:broker", processes, threads, world.env, log_path
    ) as group:
        result.startup_s = _settle(group, result)
        cpu_before = group.cpu_seconds()
        started = time.time()
        send_many(
            bare.broker,
            (bare.bare_patch.message(card_id) for card_id in range(1, cards + 1)),
        )
        _wait_drained(world, bare.QUEUE, timeout_s)
        result.wall_s = time.time() - started
        result.cpu_s = group.cpu_seconds() - cpu_before
        result.rss_after_mib = group.worker_rss_mib()
    _read_calls(world, result)
    if result.calls != cards or result.failed_calls:
        raise RuntimeError(
            f"bare run made {result.calls} calls ({result.failed_calls} failed) "
            f"for {cards} cards; see {log_path}"
        )
    return result


def _settle(group: procs.Workers, result: Drain) -> float:
    """Let freshly started workers go idle, then note their idle memory."""
    time.sleep(IDLE_SETTLE_S)
    result.rss_idle_mib = group.worker_rss_mib()
    result.supervisor_rss_mib = group.supervisor_rss_mib()
    result.fork_rss_mib = group.fork_rss_mib()
    return group.startup_s


def _wait_for_report(
    world: World, group: procs.Workers, run_id: int, timeout_s: float, result: Drain
) -> dict[str, Any]:
    """Poll the ledger for the report, noting the workers' memory on the way."""
    from sqlalchemy import select

    from pipeline.db import session_scope
    from pipeline.models import SyncRun

    started = time.monotonic()
    next_sample = started
    while time.monotonic() - started < timeout_s:
        with session_scope(world.database_url) as session:
            report = session.scalar(select(SyncRun.report).where(SyncRun.id == run_id))
        if report is not None:
            return dict(report)
        if time.monotonic() >= next_sample:
            elapsed = time.monotonic() - started
            result.rss_samples.append((elapsed, group.worker_rss_mib()))
            next_sample += RSS_SAMPLE_S
        time.sleep(POLL_S)
    raise RuntimeError(f"run {run_id} did not close in {timeout_s} s")


def _wait_drained(world: World, queue: str, timeout_s: float) -> None:
    client = world.redis()
    keys = [f"{world.namespace}:{queue}.msgs", f"{world.namespace}:{queue}.DQ.msgs"]
    deadline = time.monotonic() + timeout_s
    try:
        while sum(client.hlen(key) for key in keys):
            if time.monotonic() > deadline:
                raise RuntimeError(f"queue {queue} did not drain in {timeout_s} s")
            time.sleep(POLL_S)
    finally:
        client.close()


def _last_outcome(database_url: str, run_id: int) -> float:
    from sqlalchemy import func, select

    from pipeline.db import session_scope
    from pipeline.models import SyncOutcome

    with session_scope(database_url) as session:
        last = session.scalar(
            select(func.max(SyncOutcome.updated_at)).where(SyncOutcome.run_id == run_id)
        )
    assert last is not None
    return last.timestamp()
