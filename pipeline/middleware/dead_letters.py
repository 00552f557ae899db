"""Call an actor's ``on_dead_letter`` hook when one of its messages dies.

``after_nack`` runs for every way a message reaches the dead-letter queue
(retries exhausted, an exception listed in ``throws``, age limit) while the
final exception is still on the message, which is what the ledger records.
Dramatiq's own callbacks fire per attempt (``on_failure``) or miss ``throws``
(``on_retry_exhausted``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy

log = structlog.get_logger(__name__)

DeadLetterCallback = Callable[[MessageProxy, BaseException | None], None]


class DeadLetterHook(Middleware):
    @property
    def actor_options(self) -> set[str]:
        return {"on_dead_letter"}

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        actor = broker.get_actor(message.actor_name)
        callback: DeadLetterCallback | None = actor.options.get("on_dead_letter")
        if callback is None:
            return
        exception: Any = getattr(message, "_exception", None)
        try:
            callback(message, exception)
        except Exception:
            log.exception(
                "message.dead_letter_hook_failed",
                actor=message.actor_name,
                message_id=message.message_id,
            )
