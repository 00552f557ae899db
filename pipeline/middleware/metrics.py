"""Dramatiq's Prometheus middleware, serving the pipeline's metrics as well.

Dramatiq's middleware counts messages per actor in multiprocess files and
asks the ``dramatiq`` master to fork an exposition server. This subclass forks
the pipeline's server instead (the same files plus the pipeline's own metrics
and the fleet-wide gauges, on ``WALLET_SYNC_METRICS_PORT``) and turns the
pipeline's recording on once the process has booted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dramatiq import Broker
from dramatiq.middleware.prometheus import Prometheus

from pipeline import metrics


class WorkerMetrics(Prometheus):
    def __init__(self) -> None:
        super().__init__()
        self._booted = False

    @property
    def forks(self) -> list[Callable[[], int]]:
        return [metrics.serve_endpoint]

    def after_process_boot(self, broker: Broker) -> None:
        super().after_process_boot(broker)  # type: ignore[no-untyped-call]
        metrics.enable()
        self._booted = True

    def after_enqueue(self, broker: Broker, message: Any, delay: Any) -> None:
        # The scheduler imports the same broker but never boots a worker: its
        # metrics do not exist there.
        if self._booted:
            super().after_enqueue(broker, message, delay)  # type: ignore[no-untyped-call]
