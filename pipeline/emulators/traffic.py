"""Latency, fault injection and logging around every API call of an emulator.

Each API handler parses what it needs to name the call's target (object id,
device token) and then hands the rest of its work to `Traffic.handle`, so the
fault rules see every call before any validation and the request log sees the
status the client actually got, injected or not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from .envelopes import raw_response
from .faults import FaultBook, FaultRule
from .requestlog import DEFAULT_CAPACITY, RequestLog

FaultRenderer = Callable[[FaultRule], Response]


class Traffic:
    """The fault rules and request log of one emulator, applied per call."""

    def __init__(
        self,
        render_fault: FaultRenderer,
        *,
        default_latency_ms: float = 0.0,
        log_capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.faults = FaultBook(default_latency_ms)
        self.log = RequestLog(log_capacity)
        self._render_fault = render_fault

    async def handle(
        self, request: Request, target: str | None, answer: Callable[[], Response]
    ) -> Response:
        """Delay, maybe fail, otherwise `answer()`; then log the outcome.

        Latency is an ``asyncio.sleep`` so a slow call holds no thread and
        many delayed calls overlap the way they would against a real server.
        """
        started = time.time()
        decision = self.faults.decide(target, request.method)
        if decision.latency_s > 0:
            await asyncio.sleep(decision.latency_s)

        if decision.failure is None:
            response = answer()
        else:
            response = self._fault_response(decision.failure)

        self.log.record(
            started, request.method, request.url.path, response.status_code, target
        )
        return response

    def reset(self) -> None:
        """Drop all rules, the default latency and the log."""
        self.faults.clear()
        self.faults.default_latency_ms = 0.0
        self.log.clear()

    def _fault_response(self, rule: FaultRule) -> Response:
        assert rule.status is not None  # the fault book only fails calls with a status
        if rule.body is not None:
            return raw_response(rule.status, rule.body)
        return self._render_fault(rule)
