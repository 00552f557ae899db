"""A bounded, thread-safe log of the API calls an emulator answered.

Tests assert on what reached the outside world (how many PATCHes a card
caused, whether a push was retried) without instrumenting the code under test.
The log keeps the most recent entries only, so a long benchmark cannot grow
the emulator's memory without bound.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TypedDict

DEFAULT_CAPACITY = 100_000


class RequestRecord(TypedDict):
    """One answered call, as listed by ``GET /_emulator/requests``."""

    time: float
    method: str
    path: str
    status: int
    target: str | None


class RequestLog:
    """The most recent `capacity` calls, oldest first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RequestRecord] = deque(maxlen=capacity)

    def record(
        self, started: float, method: str, path: str, status: int, target: str | None
    ) -> None:
        """Append one call; `started` is the Unix time it arrived."""
        entry = RequestRecord(
            time=started, method=method, path=path, status=status, target=target
        )
        with self._lock:
            self._entries.append(entry)

    def entries(self, target: str | None = None) -> list[RequestRecord]:
        """A copy of the log, optionally only the calls about `target`."""
        with self._lock:
            snapshot = list(self._entries)
        if target is None:
            return snapshot
        return [entry for entry in snapshot if entry["target"] == target]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
