"""Database tables, as SQLAlchemy 2.0 typed models.

Models know nothing of wallets or actors. A card is *due* for sync when one of
its wallet integrations holds an older ``version`` than the card; every change
to a card (a points transaction, an edit) bumps ``version``. Runs and their
per-card outcomes form the ledger the collector reports from.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Program(Base):
    """A merchant's loyalty programme and its wallet templates."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    points_label: Mapped[str] = mapped_column(String(40), default="Points")

    merchant: Mapped[Merchant] = relationship()


class LoyaltyCard(Base):
    __tablename__ = "loyalty_cards"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    holder_name: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[str] = mapped_column(String(100))
    points_balance: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    google_object_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    google_class_id: Mapped[str | None] = mapped_column(String(200))
    google_synced_version: Mapped[int] = mapped_column(default=0)

    apple_serial: Mapped[str | None] = mapped_column(String(200))
    apple_pass_type_id: Mapped[str | None] = mapped_column(String(200))
    apple_update_tag: Mapped[int] = mapped_column(default=0)
    apple_synced_version: Mapped[int] = mapped_column(default=0)

    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    program: Mapped[Program] = relationship()

    __table_args__ = (UniqueConstraint("apple_pass_type_id", "apple_serial"),)


#: The finder's predicate: a card is due when a wallet it has lags behind it.
CARD_IS_DUE = or_(
    and_(
        LoyaltyCard.google_object_id.is_not(None),
        LoyaltyCard.google_synced_version < LoyaltyCard.version,
    ),
    and_(
        LoyaltyCard.apple_serial.is_not(None),
        LoyaltyCard.apple_synced_version < LoyaltyCard.version,
    ),
)

# A partial index holds only the due cards, so the finder reads a handful of
# index pages instead of the whole table however many cards are up to date.
Index(
    "ix_loyalty_cards_due",
    LoyaltyCard.id,
    postgresql_where=CARD_IS_DUE,
    sqlite_where=CARD_IS_DUE,
)


class PointTransaction(Base):
    __tablename__ = "point_transactions"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    card_id: Mapped[int] = mapped_column(ForeignKey("loyalty_cards.id"))
    delta: Mapped[int]
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_point_transactions_card", "card_id", "created_at"),)


class AppleDevice(Base):
    """A device that registered for pass updates; one push token serves many passes."""

    __tablename__ = "apple_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_library_id: Mapped[str] = mapped_column(String(200), unique=True)
    push_token: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppleRegistration(Base):
    __tablename__ = "apple_registrations"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("apple_devices.id", ondelete="CASCADE"), primary_key=True
    )
    pass_type_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    serial_number: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    device: Mapped[AppleDevice] = relationship()

    __table_args__ = (
        Index("ix_apple_registrations_pass", "pass_type_id", "serial_number"),
    )


class RunStatus(enum.StrEnum):
    FINDING = "finding"
    OPEN = "open"
    CLOSED = "closed"


class OutcomeStatus(enum.StrEnum):
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"


class SyncRun(Base):
    """One pass over the due cards; closed exactly once with its report."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(20))
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, unique=True)
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.FINDING)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cards_total: Mapped[int] = mapped_column(default=0)
    cards_pending: Mapped[int] = mapped_column(default=0)
    missed_hours: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_sync_runs_status", "status", "opened_at"),)


class SyncOutcome(Base):
    """What became of one card in one run: pending until exactly one outcome lands."""

    __tablename__ = "sync_outcomes"

    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"), primary_key=True)
    card_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20), default=OutcomeStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    error_kind: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    wallet: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WalletBreaker(Base):
    """Configuration failures of one wallet in one run; tripped stops its calls."""

    __tablename__ = "wallet_breakers"

    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(20), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    tripped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
