"""Stop calling a wallet for the rest of a run once its configuration is broken.

Bad credentials or a rejected certificate fail every card the same way. After
``config_error_threshold`` such failures in one run, the run stops calling that
wallet; its cards fail at once as ``wallet_disabled``, and the trip is logged
once, by whichever worker tripped it.
"""

from __future__ import annotations

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.db import session_scope
from pipeline.models import WalletBreaker, utcnow
from pipeline.settings import Settings

log = structlog.get_logger(__name__)


def count_failure(settings: Settings, run_id: int, wallet: str, reason: str) -> None:
    """Count one configuration failure; trip the breaker at the threshold."""
    with session_scope(settings.database_url) as session:
        failures = _increment(session, run_id, wallet, reason)
        if failures < settings.config_error_threshold:
            return
        tripped = session.execute(
            update(WalletBreaker)
            .where(
                WalletBreaker.run_id == run_id,
                WalletBreaker.wallet == wallet,
                WalletBreaker.tripped_at.is_(None),
            )
            .values(tripped_at=utcnow())
        )
    if tripped.rowcount == 1:  # type: ignore[attr-defined]
        log.error(
            "wallet.disabled",
            run_id=run_id,
            wallet=wallet,
            failures=failures,
            reason=reason,
            action="fix the credentials, check with `wallet-sync status`, "
            "then trigger a new run",
        )


def _increment(session: Session, run_id: int, wallet: str, reason: str) -> int:
    statement = (
        update(WalletBreaker)
        .where(WalletBreaker.run_id == run_id, WalletBreaker.wallet == wallet)
        .values(failures=WalletBreaker.failures + 1, reason=reason)
        .returning(WalletBreaker.failures)
    )
    failures = session.scalar(statement)
    if failures is not None:
        return failures
    try:
        with session.begin_nested():
            session.add(
                WalletBreaker(run_id=run_id, wallet=wallet, failures=1, reason=reason)
            )
        return 1
    except IntegrityError:
        return session.scalar(statement) or 1
