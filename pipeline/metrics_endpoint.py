"""The Prometheus endpoint of a worker host, forked by ``dramatiq workers``.

It adds up the multiprocess files of every worker process of the host (the
pipeline's metrics and Dramatiq's own) and reads the fleet-wide gauges from
PostgreSQL and Redis at each scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import redis
import structlog
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from pipeline.db import session_scope
from pipeline.models import RunStatus, SyncRun, utcnow
from pipeline.settings import Settings, get_settings

log = structlog.get_logger(__name__)


class FleetState(Collector):
    """Gauges read from the database and Redis when Prometheus scrapes."""

    def __init__(self, settings: Settings, queues: list[str]) -> None:
        self._settings = settings
        self._queues = queues
        self._redis = redis.Redis.from_url(settings.broker_url)

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._runs()
            yield self._dead_letters()
        except Exception:
            # A scrape must still answer with the workers' own metrics.
            log.exception("metrics.fleet_state_failed")

    def _runs(self) -> Iterator[Metric]:
        now = utcnow()
        with session_scope(self._settings.database_url) as session:
            last_opened = session.scalar(select(func.max(SyncRun.opened_at)))
            overdue = session.scalar(
                select(func.count()).where(
                    SyncRun.status != RunStatus.CLOSED, SyncRun.deadline_at < now
                )
            )
            last_closed = session.scalars(
                select(SyncRun)
                .where(SyncRun.status == RunStatus.CLOSED)
                .order_by(SyncRun.finished_at.desc())
                .limit(1)
            ).first()
            report = dict(last_closed.report or {}) if last_closed else {}
        yield _gauge(
            "wallet_sync_last_run_opened_timestamp_seconds",
            "When the newest run opened (Unix time); 0 when there is none.",
            _unix(last_opened),
        )
        yield _gauge(
            "wallet_sync_runs_overdue",
            "Runs still open past their deadline: a run that did not close.",
            overdue or 0,
        )
        yield _gauge(
            "wallet_sync_last_run_failure_rate",
            "Failed cards over all cards of the last closed run.",
            report.get("failure_rate", 0.0),
        )
        yield _gauge(
            "wallet_sync_last_run_cards_failed",
            "Failed cards of the last closed run.",
            report.get("cards_failed", 0),
        )
        yield _gauge(
            "wallet_sync_last_run_finished_timestamp_seconds",
            "When the last closed run closed (Unix time); 0 when there is none.",
            _unix(last_closed.finished_at if last_closed else None),
        )

    def _dead_letters(self) -> Metric:
        family = GaugeMetricFamily(
            "wallet_sync_dead_letters",
            "Messages in the dead-letter queue, by queue.",
            labels=["queue"],
        )
        namespace = self._settings.broker_namespace
        for queue in self._queues:
            family.add_metric([queue], self._redis.zcard(f"{namespace}:{queue}.XQ"))
        return family


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _unix(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics.scraped", request=format % args)


def serve() -> int:
    """Serve the host's metrics until killed; a ``dramatiq workers`` fork.

    Imported fresh in a process forked from the ``dramatiq`` master, so it reads
    the same environment as the worker processes: the same multiprocess
    directory (``dramatiq_prom_db``) and the same settings.
    """
    from dramatiq.middleware.prometheus import DB_PATH
    from prometheus_client import multiprocess

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = DB_PATH

    settings = get_settings()
    queues = [settings.queue_name, f"{settings.queue_name}-control"]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(FleetState(settings, queues))
    server = make_server(
        settings.metrics_host,
        settings.metrics_port,
        make_wsgi_app(registry),
        handler_class=_QuietHandler,
    )
    log.info("metrics.serving", host=settings.metrics_host, port=settings.metrics_port)
    server.serve_forever()
    return 0
