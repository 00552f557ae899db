"""Error bodies in the exact shapes the real services send.

Clients classify failures by HTTP status first and by the machine-readable
reason second, so every error the emulators produce — found by validation or
injected by a fault rule — goes through these builders and carries both.

- Google API calls: the JSON error envelope with the legacy ``errors[]`` list
  and a ``status`` name from ``google.rpc.Code``.
- Google's token endpoint: the OAuth 2 form ``{"error", "error_description"}``.
- APNs: ``{"reason": ...}``, plus ``timestamp`` (ms) for 410.
"""

from __future__ import annotations

import json
import time

from starlette.responses import Response

JSON_TYPE = "application/json; charset=UTF-8"

GOOGLE_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

GOOGLE_DEFAULT_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "permissionDenied",
    404: "notFound",
    409: "alreadyExists",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}

GOOGLE_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    409: "Requested entity already exists.",
    429: "Quota exceeded for quota metric 'Requests' of service 'walletobjects'.",
    500: "Internal error encountered.",
    502: "Bad gateway.",
    503: "The service is currently unavailable.",
    504: "The request deadline was exceeded.",
}

# Reasons that the Wallet backend reports under its own domain rather than
# under the generic "global" domain of the Google API front end.
WALLETOBJECTS_REASONS = frozenset(
    {"invalidResource", "resourceNotFound", "quotaExceeded"}
)

OAUTH_DEFAULT_ERRORS = {
    400: "invalid_grant",
    401: "invalid_client",
    403: "access_denied",
    429: "rate_limit_exceeded",
    500: "internal_failure",
    503: "temporarily_unavailable",
}

APNS_DEFAULT_REASONS = {
    400: "BadDeviceToken",
    403: "BadCertificate",
    404: "BadPath",
    405: "MethodNotAllowed",
    410: "Unregistered",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}

_UNAUTHENTICATED_HEADERS = {
    "www-authenticate": (
        'Bearer realm="https://accounts.google.com/", error="invalid_token"'
    )
}


def google_error(
    status: int, message: str | None = None, *, reason: str | None = None
) -> Response:
    """A Google API error envelope; unset parts fall back to per-status defaults."""
    reason = reason or GOOGLE_DEFAULT_REASONS.get(status, "unknown")
    message = message or GOOGLE_DEFAULT_MESSAGES.get(status, "Unknown error.")
    domain = "walletobjects" if reason in WALLETOBJECTS_REASONS else "global"
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": GOOGLE_STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }
    headers = _UNAUTHENTICATED_HEADERS if status == 401 else None
    return json_response(body, status, headers=headers)


def oauth_error(
    status: int, error: str | None = None, description: str | None = None
) -> Response:
    """An OAuth 2 token endpoint error as Google's token service words it."""
    body = {"error": error or OAUTH_DEFAULT_ERRORS.get(status, "server_error")}
    if description is not None:
        body["error_description"] = description
    return json_response(body, status)


def apns_error(
    status: int, reason: str | None = None, *, timestamp_ms: int | None = None
) -> Response:
    """An APNs error body; a 410 always carries the time the token became invalid."""
    body: dict[str, object] = {
        "reason": reason or APNS_DEFAULT_REASONS.get(status, "InternalServerError")
    }
    if status == 410:
        body["timestamp"] = timestamp_ms if timestamp_ms is not None else now_ms()
    return json_response(body, status)


def raw_response(status: int, body: str) -> Response:
    """A deliberately unparseable answer, as a misbehaving proxy might send."""
    return Response(body, status_code=status, media_type="text/plain; charset=utf-8")


def json_response(
    body: object, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    """Compact JSON, the way the services answer when prettyPrint=false."""
    content = json.dumps(body, separators=(",", ":"))
    return Response(content, status_code=status, headers=headers, media_type=JSON_TYPE)


def now_ms() -> int:
    """The current time in milliseconds since the epoch, as APNs reports it."""
    return int(time.time() * 1000)
