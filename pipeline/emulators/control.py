"""A small client for the emulators' ``/_emulator`` control API.

Seed scripts, tests and benchmarks use it to inject faults and read the
request log of an emulator running in-process or in another process. It takes
an ``httpx.Client`` so the caller decides TLS (the APNs emulator wants the
client certificate and HTTP/2 like every other call to it) and timeouts.
"""

from __future__ import annotations

from typing import Any, cast

import httpx

from .faults import WILDCARD, FaultRule
from .requestlog import RequestRecord

CONTROL_PREFIX = "/_emulator"


class EmulatorControlError(Exception):
    """The control API refused a call; the message is its explanation."""


class EmulatorControl:
    """Faults, latency and the request log of one emulator."""

    def __init__(self, base_url: str, http_client: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http_client

    def add_fault(
        self,
        target: str = WILDCARD,
        status: int | None = None,
        *,
        reason: str | None = None,
        times: int | None = None,
        latency_ms: float = 0.0,
        rate: float | None = None,
        seed: int | None = None,
        method: str | None = None,
        body: str | None = None,
    ) -> dict[str, Any]:
        """Append a fault rule (see `FaultRule`); returns it with its id."""
        rule = FaultRule(
            target=target,
            status=status,
            reason=reason,
            times=times,
            latency_ms=latency_ms,
            rate=rate,
            seed=seed,
            method=method.upper() if method else None,
            body=body,
        )
        return self.add_rule(rule)

    def add_rule(self, rule: FaultRule) -> dict[str, Any]:
        """Append a prepared fault rule; returns it with its id."""
        return cast(dict[str, Any], self._call("POST", "/faults", json=rule.to_json()))

    def faults(self) -> list[dict[str, Any]]:
        """The rules in evaluation order with their remaining budgets."""
        return cast(list[dict[str, Any]], self._call("GET", "/faults"))

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "/faults")

    def set_latency(self, latency_ms: float) -> None:
        """Add `latency_ms` to every API call from now on."""
        self._call("PUT", "/latency", json={"latency_ms": latency_ms})

    def requests(self, target: str | None = None) -> list[RequestRecord]:
        """The request log, optionally only calls about `target`."""
        params = {"target": target} if target is not None else None
        return cast(list[RequestRecord], self._call("GET", "/requests", params=params))

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "/requests")

    def reset(self) -> None:
        """No rules, no latency, empty log and empty store."""
        self._call("POST", "/reset")

    def is_healthy(self) -> bool:
        """Whether the emulator answers its readiness probe."""
        try:
            self._call("GET", "/health")
        except (httpx.TransportError, EmulatorControlError):
            return False
        return True

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: dict[str, str] | None = None,
    ) -> object:
        url = f"{self.base_url}{CONTROL_PREFIX}{path}"
        response = self._http.request(method, url, json=json, params=params)
        if response.status_code >= 400:
            raise EmulatorControlError(
                f"{method} {path} answered {response.status_code}: {response.text}"
            )
        return response.json() if response.content else None


class GoogleControl(EmulatorControl):
    """Control of the Google emulator, plus a look at stored resources."""

    def stored(self, resource_id: str) -> dict[str, Any] | None:
        """The stored loyalty object or class with this id, or None."""
        url = f"{self.base_url}{CONTROL_PREFIX}/objects/{resource_id}"
        response = self._http.get(url)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return cast(dict[str, Any], response.json())


class ApnsControl(EmulatorControl):
    """Control of the APNs emulator, plus unregistered device tokens."""

    def mark_unregistered(self, token: str, timestamp_ms: int | None = None) -> int:
        """Make pushes to `token` answer 410; returns the reported timestamp."""
        body: dict[str, object] = {"token": token}
        if timestamp_ms is not None:
            body["timestamp"] = timestamp_ms
        answer = cast(dict[str, Any], self._call("POST", "/unregistered", json=body))
        return int(answer["timestamp"])

    def unregistered(self) -> dict[str, int]:
        """Tokens currently answered with 410, and their timestamps."""
        return cast(dict[str, int], self._call("GET", "/unregistered"))

    def clear_unregistered(self) -> None:
        """Accept pushes to every token again."""
        self._call("DELETE", "/unregistered")
