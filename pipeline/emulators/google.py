"""The Google Wallet REST emulator as an ASGI application.

Routes follow the discovery document (``walletobjects/v1/loyaltyObject`` and
``loyaltyClass``: get, insert, patch, update, list) so that both our own httpx
client and google-api-python-client can be pointed at it by changing only the
root URL. Every API call needs a bearer token from the emulator's ``/token``
endpoint. Errors use Google's JSON envelope; see `envelopes`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .admin import PREFIX, ControlApi
from .discovery import wallet_schemas
from .envelopes import google_error, json_response, oauth_error
from .faults import TOKEN_TARGET, FaultRule
from .oauth import GrantError, TokenIssuer, create_service_account
from .traffic import Traffic
from .walletstore import (
    DEFAULT_ISSUER_ID,
    LOYALTY_CLASS,
    LOYALTY_OBJECT,
    ApiError,
    ResourceKind,
    WalletStore,
)

API_PREFIX = "/walletobjects/v1"
TOKEN_PATH = "/token"


@dataclass(frozen=True)
class GoogleSettings:
    """Knobs of the Google emulator."""

    issuer_id: str = DEFAULT_ISSUER_ID
    token_lifetime_s: int = 3599
    default_latency_ms: float = 0.0


class _Malformed:
    """A request body that is not JSON; reported only after authentication."""

    def __init__(self, error: ValueError) -> None:
        self.message = f"Invalid JSON payload received. {error}"


Operation = Callable[[WalletStore, ResourceKind, Request, object], object]


class GoogleEmulator:
    """One emulated Google Wallet API with its token endpoint and control API."""

    def __init__(self, settings: GoogleSettings, key_file: Path, base_url: str) -> None:
        self.settings = settings
        self.token_uri = base_url.rstrip("/") + TOKEN_PATH
        self.account = create_service_account(key_file, self.token_uri)
        self.tokens = TokenIssuer(
            self.account, self.token_uri, token_lifetime_s=settings.token_lifetime_s
        )
        self.store = WalletStore(settings.issuer_id, wallet_schemas())
        self.traffic = Traffic(
            _render_fault, default_latency_ms=settings.default_latency_ms
        )

    def app(self) -> Starlette:
        """The ASGI application serving API, token and control routes."""
        routes: list[BaseRoute] = [Route(TOKEN_PATH, self._token, methods=["POST"])]
        for kind in (LOYALTY_OBJECT, LOYALTY_CLASS):
            routes.extend(self._resource_routes(kind))
        routes.extend(ControlApi(self.traffic, self.store.clear).routes())
        routes.append(Route(PREFIX + "/objects/{resourceId}", self._stored))
        handlers = {404: _route_error, 405: _route_error}
        return Starlette(routes=routes, exception_handlers=handlers)

    def _resource_routes(self, kind: ResourceKind) -> list[BaseRoute]:
        base = f"{API_PREFIX}/{kind.path}"
        item = base + "/{resourceId}"
        return [
            Route(base, self._endpoint(kind, _list, with_body=False), methods=["GET"]),
            Route(base, self._endpoint(kind, _insert), methods=["POST"]),
            Route(item, self._endpoint(kind, _get, with_body=False), methods=["GET"]),
            Route(item, self._endpoint(kind, _patch), methods=["PATCH"]),
            Route(item, self._endpoint(kind, _update), methods=["PUT"]),
        ]

    def _endpoint(
        self, kind: ResourceKind, operation: Operation, *, with_body: bool = True
    ) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            body = await _read_json(request) if with_body else None
            target = _target(request, body)
            return await self.traffic.handle(
                request, target, lambda: self._answer(kind, operation, request, body)
            )

        return endpoint

    def _answer(
        self, kind: ResourceKind, operation: Operation, request: Request, body: object
    ) -> Response:
        try:
            self._authenticate(request)
            if isinstance(body, _Malformed):
                raise ApiError(400, body.message, "parseError")
            return json_response(operation(self.store, kind, request, body))
        except ApiError as error:
            return google_error(error.status, error.message, reason=error.reason)

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            token = request.query_params.get("access_token", "")
        if not self.tokens.is_valid(token.strip()):
            raise ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
                "authError",
            )

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        return await self.traffic.handle(
            request, TOKEN_TARGET, lambda: self._grant(form)
        )

    def _grant(self, form: dict[str, str]) -> Response:
        try:
            return json_response(self.tokens.grant(form))
        except GrantError as error:
            return oauth_error(400, error.error, error.description)

    async def _stored(self, request: Request) -> Response:
        resource = self.store.stored(request.path_params["resourceId"])
        if resource is None:
            return google_error(404, "No stored object or class with this ID.")
        return json_response(resource)


def _get(
    store: WalletStore, kind: ResourceKind, request: Request, body: object
) -> object:
    return store.get(kind, request.path_params["resourceId"])


def _insert(
    store: WalletStore, kind: ResourceKind, request: Request, body: object
) -> object:
    return store.insert(kind, body)


def _patch(
    store: WalletStore, kind: ResourceKind, request: Request, body: object
) -> object:
    return store.patch(kind, request.path_params["resourceId"], body)


def _update(
    store: WalletStore, kind: ResourceKind, request: Request, body: object
) -> object:
    return store.update(kind, request.path_params["resourceId"], body)


def _list(
    store: WalletStore, kind: ResourceKind, request: Request, body: object
) -> object:
    return store.list_page(kind, request.query_params)


async def _read_json(request: Request) -> object:
    raw = await request.body()
    if not raw:
        return _Malformed(ValueError("Request body is empty."))
    try:
        return json.loads(raw)
    except ValueError as error:
        return _Malformed(error)


def _target(request: Request, body: object) -> str | None:
    """The id a call is about: from the path, else from an inserted body."""
    resource_id = request.path_params.get("resourceId")
    if resource_id is not None:
        return str(resource_id)
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        return str(body["id"])
    return None


def _render_fault(rule: FaultRule) -> Response:
    assert rule.status is not None
    if rule.target == TOKEN_TARGET:
        return oauth_error(rule.status, rule.reason, "Injected by the emulator.")
    return google_error(rule.status, reason=rule.reason)


async def _route_error(request: Request, error: Exception) -> Response:
    status = error.status_code if isinstance(error, HTTPException) else 500
    message = f"The requested URL {request.url.path} was not found on this server."
    if status == 405:
        message = f"Method {request.method} is not allowed for {request.url.path}."
    return google_error(status, message, reason="notFound" if status == 404 else None)
