"""Rows for tests, with every field a test does not care about filled in."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from pipeline.models import (
    AppleDevice,
    AppleRegistration,
    LoyaltyCard,
    Merchant,
    Program,
)

ISSUER = "3388000000022222222"
PASS_TYPE = "pass.com.example.loyalty"
CLASS_ID = f"{ISSUER}.test-class"
_ids = itertools.count(1)


def program(session: Session) -> Program:
    row = Program(merchant=Merchant(name="Test Merchant"), name="Test Rewards")
    session.add(row)
    session.flush()
    return row


def card(
    session: Session,
    *,
    google: bool = True,
    apple: bool = True,
    class_id: str | None = CLASS_ID,
    balance: int = 100,
    synced: bool = False,
) -> LoyaltyCard:
    """A card with the chosen integrations, due for sync unless ``synced``."""
    n = next(_ids)
    row = LoyaltyCard(
        program=program(session),
        holder_name=f"Holder {n}",
        account_id=f"acct-{n}",
        points_balance=balance,
        version=2,
        google_object_id=f"{ISSUER}.object-{n}" if google else None,
        google_class_id=class_id if google else None,
        google_synced_version=2 if synced else 0,
        apple_serial=f"serial-{n}" if apple else None,
        apple_pass_type_id=PASS_TYPE if apple else None,
        apple_synced_version=2 if synced else 0,
    )
    session.add(row)
    session.flush()
    return row


def device(session: Session, *cards: LoyaltyCard, token: str | None = None) -> str:
    """Register one device for the passes of ``cards``; returns its push token."""
    n = next(_ids)
    token = token or f"{n:064x}"
    row = AppleDevice(device_library_id=f"device-{n}", push_token=token)
    session.add(row)
    session.flush()
    for each in cards:
        assert each.apple_serial is not None
        assert each.apple_pass_type_id is not None
        session.add(
            AppleRegistration(
                device_id=row.id,
                pass_type_id=each.apple_pass_type_id,
                serial_number=each.apple_serial,
            )
        )
    session.flush()
    return token
