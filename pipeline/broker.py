"""The Dramatiq broker and its middleware, set up once per process.

Redis in production; Dramatiq's in-process ``StubBroker`` for the one-command
demo. Either way the broker is set before any actor is declared, because
actors bind to the global broker when ``pipeline.actors`` is imported.
"""

from __future__ import annotations

import dramatiq
from dramatiq import Broker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)
from periodiq import PeriodiqMiddleware

from pipeline.middleware import DeadLetterHook, LogContext, ScheduledRetries
from pipeline.settings import Settings, get_settings

#: A late hourly trigger still opens its run, unless the next hour is near.
PERIODIC_SKIP_DELAY_S = 45 * 60

_configured: Broker | None = None


def build_broker(
    settings: Settings, *, in_process: bool = False, metrics: bool = False
) -> Broker:
    """A broker with the pipeline's middleware; in-process or on Redis.

    ``metrics`` adds the Prometheus middleware; only ``dramatiq workers``
    processes ask for it, because only they boot it and fork its endpoint.
    """
    middleware = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        CurrentMessage(),
        PeriodiqMiddleware(skip_delay=PERIODIC_SKIP_DELAY_S),
        LogContext(),
        DeadLetterHook(),
        ScheduledRetries(settings.retry_schedule_ms),
    ]
    if in_process:
        return StubBroker(middleware=middleware)
    if metrics and settings.metrics_port:
        from pipeline.middleware.metrics import WorkerMetrics

        middleware.insert(0, WorkerMetrics())
    return RedisBroker(
        url=settings.broker_url,
        namespace=settings.broker_namespace,
        heartbeat_timeout=settings.heartbeat_timeout_ms,
        maintenance_chance=settings.maintenance_chance,
        middleware=middleware,
    )


def setup(
    settings: Settings | None = None,
    *,
    in_process: bool = False,
    metrics: bool = False,
) -> Broker:
    """Make the pipeline's broker the global one; call before importing actors."""
    global _configured
    if _configured is not None:
        return _configured
    _configured = build_broker(
        settings or get_settings(), in_process=in_process, metrics=metrics
    )
    dramatiq.set_broker(_configured)
    return _configured


def current() -> Broker:
    """The broker set up by :func:`setup`, set up from settings if none was."""
    return _configured or setup()
