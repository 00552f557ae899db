"""Retries on a fixed schedule instead of Dramatiq's jittered exponential one.

Stock ``Retries`` computes ``min_backoff * 2**n * uniform(1, 2)`` and offers no
way to plug in another formula, so this subclass keeps everything else it does
(``throws``, the ``retries`` counter and traceback on the message,
``on_retry_exhausted``) and replaces only the wait: the n-th retry waits
``schedule[n]`` milliseconds, and the message dies after the last one.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, cast

import structlog
from dramatiq import Broker, Message, Retry
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Retries

log = structlog.get_logger(__name__)


class ScheduledRetries(Retries):
    def __init__(self, schedule_ms: tuple[int, ...]) -> None:
        super().__init__(max_retries=len(schedule_ms))
        self.schedule_ms = schedule_ms

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            return
        actor = broker.get_actor(message.actor_name)
        throws = message.options.get("throws") or actor.options.get("throws")
        if throws and isinstance(exception, throws):
            message.fail()
            return

        retries = message.options.setdefault("retries", 0)
        message.options["retries"] = retries + 1
        message.options["traceback"] = traceback.format_exc(limit=30)
        message.options["requeue_timestamp"] = int(time.time() * 1000)
        schedule = self._schedule_for(message, actor.options)
        if retries >= len(schedule):
            log.warning(
                "message.retries_exhausted",
                actor=message.actor_name,
                attempts=retries + 1,
                error=str(exception),
            )
            message.fail()
            return

        delay = schedule[retries]
        if isinstance(exception, Retry) and exception.delay is not None:
            delay = exception.delay
        log.warning(
            "message.retry_scheduled",
            actor=message.actor_name,
            attempt=retries + 1,
            next_attempt=retries + 2,
            delay_ms=delay,
            error=str(exception),
        )
        # The proxy stands in for its message, as in stock Retries.
        broker.enqueue(cast(Message[Any], message), delay=delay)

    def _schedule_for(
        self, message: MessageProxy, actor_options: dict[str, Any]
    ) -> tuple[int, ...]:
        """The schedule, cut short when the message or actor caps its retries."""
        cap = message.options.get("max_retries", actor_options.get("max_retries"))
        return self.schedule_ms if cap is None else self.schedule_ms[:cap]
