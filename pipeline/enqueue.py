"""Send many messages in few round trips.

``actor.send()`` costs one Redis round trip per message. On Redis this sends
each page through one pipeline instead, running the broker's own ``enqueue``
script with the same arguments and the same middleware hooks as
``RedisBroker.enqueue``; other brokers get the plain loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from uuid import uuid4

from dramatiq import Broker, Message
from dramatiq.brokers.redis import RedisBroker


def send_many(broker: Broker, messages: Iterable[Message[Any]]) -> int:
    """Enqueue ``messages`` (none delayed); returns how many were sent."""
    if not isinstance(broker, RedisBroker):
        count = 0
        for message in messages:
            broker.enqueue(message)
            count += 1
        return count
    return _pipelined(broker, list(messages))


def _pipelined(broker: RedisBroker, messages: list[Message[Any]]) -> int:
    dispatch = broker.scripts["dispatch"]
    max_unpack = broker._max_unpack_size()
    stamped = [
        message.copy(options={"redis_message_id": str(uuid4())}) for message in messages
    ]
    with broker.client.pipeline(transaction=False) as pipe:
        for message in stamped:
            broker.emit_before("enqueue", message, None)
            dispatch(
                keys=[broker.namespace],
                args=[
                    "enqueue",
                    int(time.time() * 1000),
                    message.queue_name,
                    broker.broker_id,
                    broker.heartbeat_timeout,
                    broker.dead_message_ttl,
                    0,
                    max_unpack,
                    message.options["redis_message_id"],
                    message.encode(),
                ],
                client=pipe,
            )
        pipe.execute()
    for message in stamped:
        broker.emit_after("enqueue", message, None)
    return len(stamped)
