"""Sync one card of one run to its wallets.

An attempt is counted in the ledger before anything else, so a card whose sync
keeps killing its worker still runs out of attempts. The card is loaded fresh,
each wallet that lags behind the card is written with absolute values, and
the wallets written are recorded before an error is raised (or in the same
transaction as the card's outcome), so a retry calls only the wallet that
failed. Errors propagate: the retry middleware decides what happens next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from pipeline import breaker, ledger
from pipeline.db import connection_scope, get_engine, session_scope
from pipeline.errors import (
    CardNotFound,
    CardNotSyncable,
    WalletConfigError,
    WalletDisabled,
    WalletError,
)
from pipeline.models import (
    AppleDevice,
    AppleRegistration,
    LoyaltyCard,
    OutcomeStatus,
    Program,
    SyncOutcome,
    UTCDateTime,
    WalletBreaker,
    utcnow,
)
from pipeline.settings import Settings
from pipeline.wallets.apple import PushResult
from pipeline.wallets.google import GoogleObject
from pipeline.wiring import Clients

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Card:
    """What the sync needs of a card, read in the attempt's first transaction."""

    id: int
    version: int
    balance: int
    points_label: str
    account_id: str
    holder_name: str
    google_object_id: str | None
    google_class_id: str | None
    google_due: bool
    apple_serial: str | None
    apple_pass_type_id: str | None
    apple_due: bool


@dataclass(frozen=True)
class Result:
    """How an attempt ended when it did not raise."""

    status: str  # "synced", "failed" or "duplicate"
    attempts: int
    cards_pending: int | None = None
    wallets: tuple[str, ...] = ()  # the wallets a synced card was written to


@dataclass
class CardSync:
    """Syncs cards with one process's settings and clients."""

    settings: Settings
    clients: Clients

    def run(self, run_id: int, card_id: int) -> Result:
        """One attempt at one card; raises the wallet error that failed it."""
        with connection_scope(self.settings.database_url) as connection:
            attempts = ledger.begin_attempt(connection, run_id, card_id)
            loaded = None
            if attempts is not None:
                loaded = _load_card(connection, run_id, card_id)
        if attempts is None:
            return self._no_pending_outcome(run_id, card_id)
        if attempts > self.settings.max_attempts:
            return self._give_up(run_id, card_id, attempts)
        if loaded is None:
            raise CardNotFound(card_id)
        card, tripped = loaded
        if card.google_object_id is None and card.apple_serial is None:
            raise CardNotSyncable(card_id)

        written, errors = self._sync_wallets(run_id, card, tripped)
        if errors:
            if written:
                with connection_scope(self.settings.database_url) as connection:
                    _mark_synced(connection, card, written, None)
            raise min(errors, key=lambda error: error.retryable)

        # The synced versions, the time and the outcome go in one transaction:
        # one commit per card instead of one per wallet plus one.
        with connection_scope(self.settings.database_url) as connection:
            _mark_synced(connection, card, written, utcnow())
            recorded = ledger.record_outcome(
                connection, run_id, card_id, OutcomeStatus.SYNCED
            )
        pending = self._count_down(run_id) if recorded else None
        wallets = ("google",) * card.google_due + ("apple",) * card.apple_due
        return Result("synced", attempts, pending, wallets)

    def _sync_wallets(
        self, run_id: int, card: Card, tripped: set[str]
    ) -> tuple[list[str], list[WalletError]]:
        """Write each lagging wallet; the wallets written and the errors met."""
        written: list[str] = []
        errors: list[WalletError] = []
        for wallet, due, sync in (
            ("google", card.google_due, self._sync_google),
            ("apple", card.apple_due, self._sync_apple),
        ):
            if not due:
                continue
            error = self._try(run_id, wallet, tripped, sync, card)
            if error is None:
                written.append(wallet)
            else:
                errors.append(error)
        return written, errors

    def _try(
        self,
        run_id: int,
        wallet: str,
        tripped: set[str],
        sync: Any,
        card: Card,
    ) -> WalletError | None:
        if wallet in tripped:
            return WalletDisabled(
                "calls stopped for this run after repeated configuration errors; "
                "run `wallet-sync status`",
                wallet=wallet,
            )
        try:
            sync(card)
        except WalletConfigError as error:
            breaker.count_failure(self.settings, run_id, wallet, str(error))
            return error
        except WalletError as error:
            return error
        return None

    def _no_pending_outcome(self, run_id: int, card_id: int) -> Result:
        """A delivery for a card with no pending outcome: a duplicate, or a
        message for a card (or run) the ledger does not know."""
        with connection_scope(self.settings.database_url) as connection:
            known = connection.scalar(
                select(SyncOutcome.status).where(
                    SyncOutcome.run_id == run_id, SyncOutcome.card_id == card_id
                )
            )
        if known is None:
            log.warning(
                "card.not_in_run",
                note="no such card in this run; the message was dropped",
            )
        else:
            log.info("card.duplicate", note=f"outcome already recorded: {known}")
        return Result("duplicate", 0)

    def _count_down(self, run_id: int) -> int | None:
        return ledger.count_down(get_engine(self.settings.database_url), run_id)

    def _give_up(self, run_id: int, card_id: int, attempts: int) -> Result:
        message = (
            f"attempt {attempts} started after {attempts - 1} attempts that ended "
            "without an outcome; the worker running it probably died"
        )
        with session_scope(self.settings.database_url) as session:
            recorded = ledger.record_outcome(
                session,
                run_id,
                card_id,
                OutcomeStatus.FAILED,
                error_kind=ledger.CRASHED,
                error_message=message,
            )
        pending = self._count_down(run_id) if recorded else None
        log.warning("card.failed", error_kind=ledger.CRASHED, attempts=attempts)
        return Result("failed", attempts, pending)

    def _sync_google(self, card: Card) -> None:
        assert card.google_object_id is not None
        action = self.clients.google().sync_object(
            GoogleObject(
                object_id=card.google_object_id,
                class_id=card.google_class_id,
                balance=card.balance,
                points_label=card.points_label,
                account_id=card.account_id,
                account_name=card.holder_name,
            )
        )
        log.debug("card.google", action=action)

    def _sync_apple(self, card: Card) -> None:
        assert card.apple_serial is not None
        assert card.apple_pass_type_id is not None
        # The tag must advance before the push: the device asks at once what
        # changed since the tag it holds.
        with session_scope(self.settings.database_url) as session:
            session.execute(
                update(LoyaltyCard)
                .where(LoyaltyCard.id == card.id)
                .values(apple_update_tag=LoyaltyCard.apple_update_tag + 1)
            )
            tokens = _push_tokens(session, card)
        apns = self.clients.apple() if tokens else None
        for token in tokens:
            assert apns is not None
            if apns.push(token, card.apple_pass_type_id) is PushResult.TOKEN_DEAD:
                self._forget_token(card, token)

    def _forget_token(self, card: Card, token: str) -> None:
        with session_scope(self.settings.database_url) as session:
            devices = select(AppleDevice.id).where(AppleDevice.push_token == token)
            session.execute(
                delete(AppleRegistration).where(
                    AppleRegistration.device_id.in_(devices),
                    AppleRegistration.pass_type_id == card.apple_pass_type_id,
                    AppleRegistration.serial_number == card.apple_serial,
                )
            )
        log.info("card.apple.token_removed", token_suffix=token[-6:])


def _tripped(wallet: str) -> Any:
    return (
        select(WalletBreaker.wallet)
        .where(
            WalletBreaker.run_id == bindparam("the_run"),
            WalletBreaker.wallet == wallet,
            WalletBreaker.tripped_at.is_not(None),
        )
        .exists()
        .label(f"{wallet}_tripped")
    )


# One statement, built once: the card, its programme's label, and whether the
# run stopped calling either wallet.
_LOAD_CARD = (
    select(
        LoyaltyCard.id,
        LoyaltyCard.version,
        LoyaltyCard.points_balance,
        LoyaltyCard.account_id,
        LoyaltyCard.holder_name,
        LoyaltyCard.google_object_id,
        LoyaltyCard.google_class_id,
        LoyaltyCard.google_synced_version,
        LoyaltyCard.apple_serial,
        LoyaltyCard.apple_pass_type_id,
        LoyaltyCard.apple_synced_version,
        Program.points_label,
        _tripped("google"),
        _tripped("apple"),
    )
    .join(Program, Program.id == LoyaltyCard.program_id)
    .where(LoyaltyCard.id == bindparam("the_card"))
)


def _load_card(
    connection: Connection, run_id: int, card_id: int
) -> tuple[Card, set[str]] | None:
    """The card, and the wallets the run stopped calling; None if it is gone."""
    row = connection.execute(
        _LOAD_CARD, {"the_card": card_id, "the_run": run_id}
    ).one_or_none()
    if row is None:
        return None
    card = Card(
        id=row.id,
        version=row.version,
        balance=row.points_balance,
        points_label=row.points_label,
        account_id=row.account_id,
        holder_name=row.holder_name,
        google_object_id=row.google_object_id,
        google_class_id=row.google_class_id,
        google_due=bool(row.google_object_id)
        and row.google_synced_version < row.version,
        apple_serial=row.apple_serial,
        apple_pass_type_id=row.apple_pass_type_id,
        apple_due=bool(row.apple_serial) and row.apple_synced_version < row.version,
    )
    tripped = {w for w in ("google", "apple") if getattr(row, f"{w}_tripped")}
    return card, tripped


def _push_tokens(session: Session, card: Card) -> list[str]:
    tokens = session.scalars(
        select(AppleDevice.push_token)
        .join(AppleRegistration, AppleRegistration.device_id == AppleDevice.id)
        .where(
            AppleRegistration.pass_type_id == card.apple_pass_type_id,
            AppleRegistration.serial_number == card.apple_serial,
        )
        .distinct()
    )
    return sorted(tokens)


def _advanced(column: Any, flag: str) -> Any:
    """The column moved up to the card's version when ``flag`` is set."""
    return case(
        (
            and_(bindparam(flag), column < bindparam("the_version")),
            bindparam("the_version"),
        ),
        else_=column,
    )


# Built once: writes the synced versions of the wallets written (never
# backwards) and, with the outcome, the time of the sync.
_MARK_SYNCED = (
    update(LoyaltyCard)
    .where(LoyaltyCard.id == bindparam("the_card"))
    .values(
        google_synced_version=_advanced(LoyaltyCard.google_synced_version, "google"),
        apple_synced_version=_advanced(LoyaltyCard.apple_synced_version, "apple"),
        last_synced_at=func.coalesce(
            bindparam("synced_at", type_=UTCDateTime), LoyaltyCard.last_synced_at
        ),
    )
)


def _mark_synced(
    connection: Connection, card: Card, wallets: list[str], synced_at: Any
) -> None:
    """Advance the written wallets' synced versions; with ``synced_at``, note
    the time of a completed sync too."""
    connection.execute(
        _MARK_SYNCED,
        {
            "the_card": card.id,
            "the_version": card.version,
            "google": "google" in wallets,
            "apple": "apple" in wallets,
            "synced_at": synced_at,
        },
    )
