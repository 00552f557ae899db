"""The ``/_emulator/...`` control API shared by both emulators.

Seed scripts and tests drive faults, latency and the request log over HTTP so
that an emulator running in another process (``python -m pipeline.emulators``)
can be controlled the same way as one running in-process. Control calls are
never faulted, delayed or logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .envelopes import json_response
from .faults import FaultRule, FaultRuleError
from .traffic import Traffic

PREFIX = "/_emulator"


class ControlApi:
    """Request handlers for the control endpoints of one emulator."""

    def __init__(self, traffic: Traffic, reset_state: Callable[[], None]) -> None:
        self._traffic = traffic
        self._reset_state = reset_state

    def routes(self) -> list[BaseRoute]:
        """The control routes, to be mounted next to the API routes."""
        return [
            Route(f"{PREFIX}/health", self.health, methods=["GET"]),
            Route(f"{PREFIX}/faults", self.list_faults, methods=["GET"]),
            Route(f"{PREFIX}/faults", self.add_fault, methods=["POST"]),
            Route(f"{PREFIX}/faults", self.clear_faults, methods=["DELETE"]),
            Route(f"{PREFIX}/latency", self.get_latency, methods=["GET"]),
            Route(f"{PREFIX}/latency", self.set_latency, methods=["PUT"]),
            Route(f"{PREFIX}/requests", self.list_requests, methods=["GET"]),
            Route(f"{PREFIX}/requests", self.clear_requests, methods=["DELETE"]),
            Route(f"{PREFIX}/reset", self.reset, methods=["POST"]),
        ]

    async def health(self, request: Request) -> Response:
        """Readiness probe for scripts that start the emulators in the background."""
        return json_response({"status": "ok"})

    async def list_faults(self, request: Request) -> Response:
        """The rules in evaluation order with their remaining budgets."""
        return json_response(self._traffic.faults.snapshot())

    async def add_fault(self, request: Request) -> Response:
        """Append one rule; 400 with an explanation if it is malformed."""
        try:
            rule = FaultRule.from_json(await _json_body(request))
        except FaultRuleError as error:
            return _control_error(str(error))
        return json_response(self._traffic.faults.add(rule), 201)

    async def clear_faults(self, request: Request) -> Response:
        """Remove every rule."""
        self._traffic.faults.clear()
        return Response(status_code=204)

    async def get_latency(self, request: Request) -> Response:
        """The latency added to every API call."""
        return json_response({"latency_ms": self._traffic.faults.default_latency_ms})

    async def set_latency(self, request: Request) -> Response:
        """Set the latency added to every API call: ``{"latency_ms": 50}``."""
        try:
            body = await _json_body(request)
            value = body.get("latency_ms") if isinstance(body, dict) else None
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise FaultRuleError("latency_ms must be a number")
            self._traffic.faults.default_latency_ms = value
        except FaultRuleError as error:
            return _control_error(str(error))
        return await self.get_latency(request)

    async def list_requests(self, request: Request) -> Response:
        """The request log, optionally filtered with ``?target=``."""
        target = request.query_params.get("target")
        return json_response(self._traffic.log.entries(target))

    async def clear_requests(self, request: Request) -> Response:
        """Empty the request log."""
        self._traffic.log.clear()
        return Response(status_code=204)

    async def reset(self, request: Request) -> Response:
        """Back to a fresh emulator: no rules, no latency, empty log and store."""
        self._traffic.reset()
        self._reset_state()
        return Response(status_code=204)


async def _json_body(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except ValueError as error:
        raise FaultRuleError(f"body is not JSON: {error}") from error


def _control_error(message: str) -> Response:
    return json_response({"error": message}, 400)
