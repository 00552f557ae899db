"""Fault rules: make chosen calls slow or fail, deterministically when asked.

Tests and benchmarks need the outside world to misbehave on cue — the next two
PATCHes of one card answer 503, five percent of all pushes time out, every call
is 50 ms slower. A rule names what it applies to (an object or class id, a
device token, ``"token"`` for Google's token endpoint, or ``"*"``), optionally
an HTTP method, and what happens: added latency, an error status (rendered in
the real error shape of the API) or a raw body.

Rules are checked in the order they were added. A matching rule with a
``times`` budget spends one unit each time it applies and stops matching at
zero. Latency-only rules (``status`` null) add their delay and let checking go
on; the first matching rule with a status decides the answer. ``rate`` applies
a rule to a random share of matching calls, reproducibly when ``seed`` is set
(each rule owns its random generator).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

WILDCARD = "*"
TOKEN_TARGET = "token"
_FIELDS = (
    "target",
    "status",
    "reason",
    "times",
    "latency_ms",
    "rate",
    "seed",
    "method",
    "body",
)


class FaultRuleError(ValueError):
    """A fault rule submitted to the control API is malformed."""


@dataclass(frozen=True)
class FaultRule:
    """What should go wrong, for which calls, how often.

    ``"*"`` matches every API call except Google's token endpoint, which only
    rules targeting ``"token"`` affect — a wildcard outage of the API should not
    also make credential refreshes fail unless a test asks for that.
    """

    target: str = WILDCARD
    status: int | None = None
    reason: str | None = None
    times: int | None = None
    latency_ms: float = 0.0
    rate: float | None = None
    seed: int | None = None
    method: str | None = None
    body: str | None = None

    def __post_init__(self) -> None:
        _check_rule(self)

    def matches(self, target: str | None, method: str) -> bool:
        """Whether this rule is about a call to `target` with `method`."""
        if self.method is not None and self.method != method.upper():
            return False
        if self.target == WILDCARD:
            return target != TOKEN_TARGET
        return self.target == target

    def to_json(self) -> dict[str, Any]:
        """The rule as the control API accepts and lists it."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_json(cls, data: object) -> FaultRule:
        """Parse a rule from the control API, rejecting unknown or ill-typed fields."""
        if not isinstance(data, dict):
            raise FaultRuleError("a fault rule must be a JSON object")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise FaultRuleError(f"unknown fault rule fields: {', '.join(unknown)}")
        values = {name: data[name] for name in _FIELDS if data.get(name) is not None}
        if isinstance(values.get("method"), str):
            values["method"] = values["method"].upper()
        try:
            return cls(**values)
        except TypeError as error:
            raise FaultRuleError(str(error)) from error


@dataclass(frozen=True)
class FaultDecision:
    """The outcome for one call: how long to wait, and which rule (if any) fails it."""

    latency_s: float
    failure: FaultRule | None


@dataclass
class _ActiveRule:
    rule_id: int
    rule: FaultRule
    remaining: int | None
    rng: random.Random = field(repr=False)

    def applies(self, target: str | None, method: str) -> bool:
        if self.remaining == 0 or not self.rule.matches(target, method):
            return False
        return self.rule.rate is None or self.rng.random() < self.rule.rate

    def to_json(self) -> dict[str, Any]:
        return {"id": self.rule_id, **self.rule.to_json(), "remaining": self.remaining}


class FaultBook:
    """The ordered fault rules of one emulator plus its default latency.

    Calls are decided under a lock because the control API and test code in
    other threads change rules while requests are being served.
    """

    def __init__(self, default_latency_ms: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._rules: list[_ActiveRule] = []
        self._next_id = 1
        self._default_latency_s = _latency_seconds(default_latency_ms)

    @property
    def default_latency_ms(self) -> float:
        """Latency added to every API call before any rule is considered."""
        return self._default_latency_s * 1000.0

    @default_latency_ms.setter
    def default_latency_ms(self, value: float) -> None:
        self._default_latency_s = _latency_seconds(value)

    def add(self, rule: FaultRule) -> dict[str, Any]:
        """Append a rule; returns it as listed, with its id and remaining budget."""
        with self._lock:
            active = _ActiveRule(
                self._next_id, rule, rule.times, random.Random(rule.seed)
            )
            self._rules.append(active)
            self._next_id += 1
            return active.to_json()

    def clear(self) -> None:
        """Forget every rule."""
        with self._lock:
            self._rules.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """The rules in evaluation order, including spent ones."""
        with self._lock:
            return [active.to_json() for active in self._rules]

    def decide(self, target: str | None, method: str) -> FaultDecision:
        """Apply the rules to one call, spending `times` budgets as they apply."""
        latency = self._default_latency_s
        if not self._rules:
            return FaultDecision(latency, None)
        with self._lock:
            for active in self._rules:
                if not active.applies(target, method):
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                latency += active.rule.latency_ms / 1000.0
                if active.rule.status is not None:
                    return FaultDecision(latency, active.rule)
        return FaultDecision(latency, None)


def _check_rule(rule: FaultRule) -> None:
    _expect(
        isinstance(rule.target, str) and rule.target != "",
        "target must be a non-empty string",
    )
    if rule.status is not None:
        _expect(
            _is_int(rule.status) and 100 <= rule.status <= 599,
            "status must be an HTTP status",
        )
    if rule.times is not None:
        _expect(
            _is_int(rule.times) and rule.times > 0,
            "times must be a positive integer or null",
        )
    _expect(
        _is_number(rule.latency_ms) and rule.latency_ms >= 0, "latency_ms must be >= 0"
    )
    if rule.rate is not None:
        _expect(_is_number(rule.rate) and 0 < rule.rate <= 1, "rate must be in (0, 1]")
    if rule.seed is not None:
        _expect(_is_int(rule.seed), "seed must be an integer")
    for name in ("reason", "method", "body"):
        value = getattr(rule, name)
        _expect(value is None or isinstance(value, str), f"{name} must be a string")
    _expect(rule.body is None or rule.status is not None, "body needs a status")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise FaultRuleError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _latency_seconds(milliseconds: float) -> float:
    if not _is_number(milliseconds) or milliseconds < 0:
        raise FaultRuleError("latency_ms must be >= 0")
    return float(milliseconds) / 1000.0
