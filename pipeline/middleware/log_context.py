"""Bind the message's identity to every log line of its work."""

from __future__ import annotations

from typing import Any

import structlog
from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy


class LogContext(Middleware):
    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            message_id=message.message_id,
            actor=message.actor_name,
            attempt=message.options.get("retries", 0) + 1,
            **{k: v for k, v in message.kwargs.items() if k in ("run_id", "card_id")},
        )

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        structlog.contextvars.clear_contextvars()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
