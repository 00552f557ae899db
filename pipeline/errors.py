"""The errors wallet-sync raises, under one root.

::

    WalletSyncError
    ├── CardNotFound                  the card id is not in the database
    ├── CardNotSyncable               the card has no wallet integration
    ├── RunNotFound                   the run id is not in the database
    ├── MessageMalformed              a message whose arguments make no sense
    └── WalletError                   a wallet API call failed
        ├── TransientWalletError      retried by the retry middleware
        │   ├── WalletTimeout         connect or read timed out
        │   ├── WalletConnectionError connection refused, reset, TLS or HTTP/2 failure
        │   ├── WalletRateLimited     429, or Google's rate-limit reasons
        │   ├── WalletServerError     5xx
        │   └── WalletBadResponse     an answer that is not what the API documents
        └── PermanentWalletError      not retried: the same call would fail again
            ├── WalletRequestRejected 400 and other refusals of this request
            ├── WalletClassMissing    the object's Google Wallet class does not exist
            └── WalletConfigError     credentials, permission or certificate refused;
                └── WalletDisabled    the run stopped calling this wallet after
                                      repeated configuration errors

``kind`` on each class is the short name that reports count failures by.
"""

from __future__ import annotations


class WalletSyncError(Exception):
    """Root of every error wallet-sync raises on purpose."""

    kind = "unexpected"


class CardNotFound(WalletSyncError):
    """The card id names no card: nothing was enqueued or synced for it."""

    kind = "card_not_found"

    def __init__(self, card_id: int) -> None:
        super().__init__(f"card {card_id} does not exist")
        self.card_id = card_id


class CardNotSyncable(WalletSyncError):
    """The card exists but has neither a Google object nor an Apple pass."""

    kind = "no_integration"

    def __init__(self, card_id: int) -> None:
        super().__init__(
            f"card {card_id} has no Google Wallet object and no Apple Wallet pass"
        )
        self.card_id = card_id


class RunNotFound(WalletSyncError):
    """The run id names no sync run."""

    kind = "run_not_found"

    def __init__(self, run_id: int) -> None:
        super().__init__(f"run {run_id} does not exist")
        self.run_id = run_id


class MessageMalformed(WalletSyncError):
    """A message's arguments are not what its actor takes; retrying cannot help."""

    kind = "malformed_message"


class WalletError(WalletSyncError):
    """A call to a wallet API failed.

    ``wallet`` is ``"google"`` or ``"apple"``; ``target`` the object id or device
    token the call was about; ``status`` and ``reason`` what the API answered,
    when it answered.
    """

    kind = "wallet_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        wallet: str,
        target: str | None = None,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.wallet = wallet
        self.target = target
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        detail = ", ".join(
            part
            for part in (
                f"HTTP {self.status}" if self.status is not None else "",
                self.reason or "",
                self.target or "",
            )
            if part
        )
        text = f"{self.wallet}: {self.args[0]}"
        return f"{text} ({detail})" if detail else text


class TransientWalletError(WalletError):
    """Worth retrying: the same call may well succeed later."""

    kind = "transient"
    retryable = True


class WalletTimeout(TransientWalletError):
    kind = "timeout"


class WalletConnectionError(TransientWalletError):
    kind = "connection"


class WalletRateLimited(TransientWalletError):
    kind = "rate_limited"


class WalletServerError(TransientWalletError):
    kind = "server_error"


class WalletBadResponse(TransientWalletError):
    kind = "bad_response"


class PermanentWalletError(WalletError):
    """Retrying would fail the same way; someone has to change something."""

    kind = "permanent"


class WalletRequestRejected(PermanentWalletError):
    kind = "rejected"


class WalletClassMissing(PermanentWalletError):
    """Google has no class for the object; the object cannot be inserted."""

    kind = "class_missing"


class WalletConfigError(PermanentWalletError):
    """Credentials, permission or certificate: every card would fail the same way."""

    kind = "credentials"


class WalletDisabled(WalletConfigError):
    """The run stopped calling this wallet after repeated configuration errors."""

    kind = "wallet_disabled"
