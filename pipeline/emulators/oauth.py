"""Google's OAuth 2 token endpoint for service accounts, on loopback.

The pipeline authenticates the way it will in production: google-auth reads a
service-account JSON key, signs an RS256 JWT assertion and exchanges it at the
key's ``token_uri`` for a bearer token. The emulator generates that key file
with ``token_uri`` pointing at itself, verifies assertions with the matching
public key (via google-auth's own JWT code) and only accepts bearer tokens it
issued and that have not expired.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

WALLET_SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_S = 3600
CLOCK_SKEW_S = 10
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
    "reasonable timeframe. Check your iat and exp values in the JWT claim."
)


class GrantError(Exception):
    """A token request the real endpoint would refuse, in OAuth terms."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class ServiceAccount:
    """The emulator's service account: who signs assertions, and how to check them."""

    client_email: str
    private_key_id: str
    public_key_pem: str
    key_file: Path


def create_service_account(
    key_file: Path, token_uri: str, *, project_id: str = "wallet-sync-emulator"
) -> ServiceAccount:
    """Generate an RSA key and write a service-account JSON key file for it.

    The file has the fields of a key downloaded from the Cloud console, so
    ``service_account.Credentials.from_service_account_file`` loads it as is.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = f"wallet-sync@{project_id}.iam.gserviceaccount.com"
    key_id = secrets.token_hex(20)
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": _private_pem(key),
        "client_email": account,
        "client_id": str(100_000_000_000_000_000_000 + secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{account}",
        "universe_domain": "googleapis.com",
    }
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600, exist_ok=True)
    key_file.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ServiceAccount(account, key_id, public_pem.decode("ascii"), key_file)


class TokenIssuer:
    """Checks JWT-bearer grants and remembers the access tokens it handed out."""

    def __init__(
        self, account: ServiceAccount, token_uri: str, *, token_lifetime_s: int = 3599
    ) -> None:
        self._account = account
        self._audiences = [token_uri, GOOGLE_TOKEN_URI]
        self._lifetime_s = token_lifetime_s
        self._tokens: dict[str, float] = {}

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer a token request or raise `GrantError` as the real endpoint would."""
        if form.get("grant_type") != JWT_BEARER_GRANT:
            raise GrantError(
                "unsupported_grant_type",
                f"Invalid grant_type: {form.get('grant_type', '')}",
            )
        self._check_claims(self._verified_claims(form.get("assertion", "")))
        return self._issue()

    def is_valid(self, token: str) -> bool:
        """Whether `token` was issued here and has not expired."""
        expiry = self._tokens.get(token)
        return expiry is not None and expiry > time.time()

    def forget(self) -> None:
        """Invalidate every issued token."""
        self._tokens.clear()

    def _verified_claims(self, assertion: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                assertion,
                certs=self._account.public_key_pem,
                audience=self._audiences,
                clock_skew_in_seconds=CLOCK_SKEW_S,
            )
        except ValueError as error:
            raise GrantError("invalid_grant", _describe(error)) from None
        header = _unverified_header(assertion)
        if header.get("kid") not in (None, self._account.private_key_id):
            raise GrantError("invalid_grant", "Invalid JWT Signature.")
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        if claims.get("iss") != self._account.client_email:
            raise GrantError("invalid_grant", "Invalid JWT: unknown issuer (iss).")
        lifetime = int(claims.get("exp", 0)) - int(claims.get("iat", 0))
        if lifetime > MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S:
            raise GrantError("invalid_grant", _SHORT_LIVED)
        scopes = str(claims.get("scope", "")).split()
        if WALLET_SCOPE not in scopes:
            raise GrantError(
                "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )

    def _issue(self) -> dict[str, Any]:
        now = time.time()
        if len(self._tokens) > 10_000:
            self._tokens = {t: e for t, e in self._tokens.items() if e > now}
        token = "ya29.emulator-" + secrets.token_urlsafe(32)
        self._tokens[token] = now + self._lifetime_s
        return {
            "access_token": token,
            "expires_in": self._lifetime_s,
            "token_type": "Bearer",
        }


def _describe(error: ValueError) -> str:
    text = str(error)
    if "signature" in text.lower():
        return "Invalid JWT Signature."
    if "expired" in text.lower() or "too early" in text.lower():
        return _SHORT_LIVED
    return f"Invalid JWT: {text}"


def _unverified_header(assertion: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.decode_header(assertion)  # type: ignore[no-untyped-call]
    return header


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode("ascii")
