"""Prometheus metrics of the pipeline, one endpoint per worker host.

Two kinds of numbers:

- what the worker processes do (cards synced and failed, attempts, runs
  closed, run durations) are prometheus-client metrics in multiprocess mode, in
  the same directory as Dramatiq's own ``Prometheus`` middleware, so one
  scrape adds up every process of the host;
- what the whole fleet shares (the last run's failure rate and time, runs past
  their deadline, dead letters per queue) is read from PostgreSQL and Redis at
  scrape time (``pipeline.metrics_endpoint``), so every host reports the same.

The recording functions do nothing until :func:`enable` runs; it runs after
a ``dramatiq workers`` process boots (``pipeline.middleware.metrics``), so the
demo, the CLI and tests in one process record nothing. prometheus-client is
imported only then: it picks its multiprocess mode once, at import, from
``PROMETHEUS_MULTIPROC_DIR``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

RUN_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


@dataclass(frozen=True)
class _Metrics:
    cards_synced: Counter
    cards_failed: Counter
    attempts: Counter
    runs_closed: Counter
    run_duration: Histogram


_metrics: _Metrics | None = None


def enable() -> None:
    """Create the process's metrics; needs PROMETHEUS_MULTIPROC_DIR already set."""
    global _metrics
    if _metrics is not None:
        return
    from prometheus_client import Counter, Histogram

    # Not registered anywhere: in multiprocess mode values go to files that
    # the exposition server reads.
    _metrics = _Metrics(
        Counter(
            "wallet_sync_cards_synced",
            "Cards brought up to date, by wallet written.",
            ["wallet"],
            registry=None,
        ),
        Counter(
            "wallet_sync_cards_failed",
            "Cards that ended a run failed, by failing wallet and error kind.",
            ["wallet", "error_kind"],
            registry=None,
        ),
        Counter(
            "wallet_sync_card_attempts",
            "Attempts at syncing a card, each counted before its work starts.",
            registry=None,
        ),
        Counter(
            "wallet_sync_runs_closed",
            "Runs closed, by trigger and by how they closed (complete, deadline).",
            ["trigger", "status"],
            registry=None,
        ),
        Histogram(
            "wallet_sync_run_duration_seconds",
            "Time from a run's opening to its close.",
            buckets=RUN_DURATION_BUCKETS,
            registry=None,
        ),
    )


def card_attempted() -> None:
    if _metrics is not None:
        _metrics.attempts.inc()


def card_synced(wallets: Iterable[str]) -> None:
    if _metrics is not None:
        for wallet in wallets:
            _metrics.cards_synced.labels(wallet).inc()


def card_failed(wallet: str | None, error_kind: str) -> None:
    if _metrics is not None:
        _metrics.cards_failed.labels(wallet or "none", error_kind).inc()


def run_closed(report: dict[str, Any]) -> None:
    if _metrics is not None:
        _metrics.runs_closed.labels(report["trigger"], report["status"]).inc()
        _metrics.run_duration.observe(report["duration_s"])


def serve_endpoint() -> int:
    """The host's metrics endpoint; the ``dramatiq`` master forks this.

    It lives here, not in ``pipeline.metrics_endpoint``, so that worker
    processes can name it without importing prometheus-client too early.
    """
    from pipeline.metrics_endpoint import serve

    return serve()
