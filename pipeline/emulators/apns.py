"""The APNs provider API emulator as an ASGI application.

It answers ``POST /3/device/{deviceToken}`` the way api.push.apple.com answers
pass-update pushes: only over HTTP/2, only to a client certificate whose pass
type id matches ``apns-topic``, with a JSON object body of at most 4 KiB. Every
error is ``{"reason": ...}`` with Apple's reason names; 410 adds the time the
token became invalid. Tests mark tokens as unregistered through the control
API to exercise registration cleanup.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .admin import PREFIX, ControlApi
from .envelopes import apns_error, json_response, now_ms
from .faults import FaultRule
from .mtls import peer_pass_type_id
from .traffic import Traffic

MAX_PAYLOAD_BYTES = 4096
PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "complication",
        "controls",
        "fileprovider",
        "liveactivity",
        "location",
        "mdm",
        "pushtotalk",
        "voip",
        "widgets",
    }
)
_DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64}")
_APNS_ID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SINGLE_HEADERS = (
    "apns-topic",
    "apns-push-type",
    "apns-priority",
    "apns-expiration",
    "apns-id",
)

Rejection = tuple[int, str]


@dataclass(frozen=True)
class ApnsSettings:
    """Knobs of the APNs emulator."""

    default_latency_ms: float = 0.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


class ApnsEmulator:
    """One emulated APNs endpoint with its control API."""

    def __init__(self, settings: ApnsSettings | None = None) -> None:
        self.settings = settings or ApnsSettings()
        self.traffic = Traffic(
            _render_fault, default_latency_ms=self.settings.default_latency_ms
        )
        self.unregistered: dict[str, int] = {}

    def app(self) -> ASGIApp:
        """The ASGI application serving pushes and control routes."""
        routes: list[BaseRoute] = [
            Route("/3/device/{deviceToken}", self._push, methods=["POST"]),
            Route("/3/device/", self._missing_token, methods=["POST"]),
            Route(PREFIX + "/unregistered", self._list_unregistered, methods=["GET"]),
            Route(PREFIX + "/unregistered", self._unregister, methods=["POST"]),
            Route(
                PREFIX + "/unregistered", self._clear_unregistered, methods=["DELETE"]
            ),
        ]
        routes.extend(ControlApi(self.traffic, self.unregistered.clear).routes())
        handlers = {404: _bad_path, 405: _method_not_allowed}
        return _body_first(Starlette(routes=routes, exception_handlers=handlers))

    async def _push(self, request: Request) -> Response:
        if request.scope.get("http_version") != "2":
            return _http2_required()
        token = str(request.path_params["deviceToken"])
        body = await request.body()
        return await self.traffic.handle(
            request, token, lambda: self._answer(request, token, body)
        )

    def _answer(self, request: Request, token: str, body: bytes) -> Response:
        rejection = self._rejection(request, token, body)
        if rejection is not None:
            return apns_error(*rejection)
        if token in self.unregistered:
            return apns_error(
                410, "Unregistered", timestamp_ms=self.unregistered[token]
            )
        apns_id = request.headers.get("apns-id") or str(uuid.uuid4())
        return Response(status_code=200, headers={"apns-id": apns_id})

    def _rejection(self, request: Request, token: str, body: bytes) -> Rejection | None:
        """The first reason APNs would refuse this push, checked in a fixed order."""
        topic = peer_pass_type_id()
        if topic is None:
            return 403, "BadCertificate"
        return (
            _addressing_rejection(request, token, topic)
            or _option_rejection(request)
            or _payload_rejection(body, self.settings.max_payload_bytes)
        )

    async def _missing_token(self, request: Request) -> Response:
        return apns_error(400, "MissingDeviceToken")

    async def _list_unregistered(self, request: Request) -> Response:
        return json_response(self.unregistered)

    async def _unregister(self, request: Request) -> Response:
        """Make pushes to a token answer 410: ``{"token": ..., "timestamp": ms}``."""
        try:
            body = json.loads(await request.body())
            token, timestamp = body["token"], body.get("timestamp") or now_ms()
        except (ValueError, TypeError, KeyError):
            return json_response(
                {"error": 'expected {"token": "...", "timestamp": ms}'}, 400
            )
        if not isinstance(token, str) or not isinstance(timestamp, int):
            return json_response(
                {"error": "token must be a string, timestamp an int"}, 400
            )
        self.unregistered[token] = timestamp
        return json_response({"token": token, "timestamp": timestamp}, 201)

    async def _clear_unregistered(self, request: Request) -> Response:
        self.unregistered.clear()
        return Response(status_code=204)


def _addressing_rejection(request: Request, token: str, topic: str) -> Rejection | None:
    """Who the push is for: one topic, allowed by the certificate, and a valid token."""
    headers = request.headers
    if any(len(headers.getlist(name)) > 1 for name in _SINGLE_HEADERS):
        return 400, "DuplicateHeaders"
    if not headers.get("apns-topic"):
        return 400, "MissingTopic"
    if not _DEVICE_TOKEN.fullmatch(token):
        return 400, "BadDeviceToken"
    if headers["apns-topic"] != topic:
        return 400, "TopicDisallowed"
    return None


def _option_rejection(request: Request) -> Rejection | None:
    """The optional delivery headers, when present, must have valid values."""
    headers = request.headers
    push_type = headers.get("apns-push-type")
    if push_type is not None and push_type not in PUSH_TYPES:
        return 400, "InvalidPushType"
    if headers.get("apns-priority", "10") not in ("1", "5", "10"):
        return 400, "BadPriority"
    if not headers.get("apns-expiration", "0").isdigit():
        return 400, "BadExpirationDate"
    apns_id = headers.get("apns-id")
    if apns_id is not None and not _APNS_ID.fullmatch(apns_id):
        return 400, "BadMessageId"
    return None


def _payload_rejection(body: bytes, limit: int) -> Rejection | None:
    """Empty, oversized, or not a JSON object (Apple documents no reason for the
    last case; ``BadPayload`` is this emulator's name for it)."""
    if not body:
        return 400, "PayloadEmpty"
    if len(body) > limit:
        return 413, "PayloadTooLarge"
    try:
        payload = json.loads(body)
    except ValueError:
        return 400, "BadPayload"
    return None if isinstance(payload, dict) else (400, "BadPayload")


def _render_fault(rule: FaultRule) -> Response:
    assert rule.status is not None
    return apns_error(rule.status, rule.reason)


def _http2_required() -> Response:
    """APNs speaks only HTTP/2; an HTTP/1.1 client gets a plain, reasonless 505."""
    return Response(
        "APNs requires HTTP/2.\n",
        status_code=505,
        media_type="text/plain; charset=utf-8",
    )


async def _bad_path(request: Request, error: Exception) -> Response:
    return apns_error(404, "BadPath")


async def _method_not_allowed(request: Request, error: Exception) -> Response:
    return apns_error(405, "MethodNotAllowed")


def _body_first(app: ASGIApp) -> ASGIApp:
    """Receive the whole request before the application may answer.

    Hypercorn's HTTP/2 protocol drops the connection when a client's
    end-of-stream arrives after the response to that stream was already
    completed, which happens whenever a handler answers without reading the
    body (an empty POST to a control endpoint, a 404). Reading first keeps the
    connection usable; APNs requests are at most 4 KiB, so it costs nothing.
    """

    async def buffered(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        messages = [await receive()]
        while messages[-1]["type"] == "http.request" and messages[-1].get("more_body"):
            messages.append(await receive())
        pending = iter(messages)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        await app(scope, replay, send)

    return buffered
