"""Dramatiq middleware of the pipeline: the retry schedule, dead-letter hooks
and per-message log context."""

from pipeline.middleware.dead_letters import DeadLetterHook
from pipeline.middleware.log_context import LogContext
from pipeline.middleware.retries import ScheduledRetries

__all__ = ["DeadLetterHook", "LogContext", "ScheduledRetries"]
