"""The demo data set and its failure plan.

A few merchants with one programme each; cards with a Google object only, an
Apple pass only, or both; devices (one shared by several passes, as a family
tablet would be); point transactions. Every card is due. The plan picks cards
to fail for good (a 400 from Google, or a 503 that never clears) and cards that
fail transiently and then recover, plus dead device tokens that must be pruned
without failing their card. The same seed gives the same data and plan.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from pipeline.models import (
    AppleDevice,
    AppleRegistration,
    LoyaltyCard,
    Merchant,
    PointTransaction,
    Program,
)

MERCHANTS = [
    ("Northside Coffee", "coffee", "Beans"),
    ("Green Basket Grocers", "grocer", "Points"),
    ("Pageturner Books", "books", "Stamps"),
    ("Summit Fitness", "fitness", "Points"),
]
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jon"]
LAST = ["Okafor", "Schmidt", "Tanaka", "Silva", "Novak", "Haddad", "Berg", "Moreau"]


@dataclass(frozen=True)
class Fault:
    card_id: int
    wallet: str
    target: str
    status: int
    times: int | None


@dataclass
class Plan:
    """What the emulators are told to do, and what the report must then say."""

    failing_card_ids: list[int] = field(default_factory=list)
    recovering_card_ids: list[int] = field(default_factory=list)
    dead_tokens: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "failing_card_ids": sorted(self.failing_card_ids),
            "recovering_card_ids": sorted(self.recovering_card_ids),
            "dead_tokens": sorted(self.dead_tokens),
            "faults": [asdict(fault) for fault in self.faults],
        }


@dataclass(frozen=True)
class Targets:
    """Where the seeded cards live in the wallets."""

    issuer_id: str
    pass_type_id: str


class DatabaseNotEmpty(Exception):
    """Seeding needs an empty database, so that ids and plan match the seed."""


def seed(session: Session, cards: int, seed: int, targets: Targets) -> Plan:
    """Insert the data set and return its failure plan."""
    if session.scalar(select(func.count()).select_from(LoyaltyCard)):
        raise DatabaseNotEmpty(
            "the database already holds loyalty cards; seed a fresh database"
        )
    rng = random.Random(seed)
    programs = _programs(session, targets)
    card_rows = [_card(i, rng, programs, targets) for i in range(1, cards + 1)]
    session.execute(insert(LoyaltyCard), card_rows)
    _advance_card_ids(session)
    session.execute(insert(PointTransaction), _transactions(card_rows, rng))
    solo_tokens = _devices(session, card_rows, rng)
    return _plan(card_rows, solo_tokens, rng)


def _advance_card_ids(session: Session) -> None:
    """Move PostgreSQL's id sequence past the ids the seed chose, so that cards
    the application adds later get fresh ones."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "SELECT setval(pg_get_serial_sequence('loyalty_cards', 'id'), "
            "(SELECT max(id) FROM loyalty_cards))"
        )
    )


def class_ids(targets: Targets) -> list[tuple[str, str, str]]:
    """(class id, issuer name, programme name) of every seeded programme."""
    return [
        (f"{targets.issuer_id}.{slug}", name, f"{name} Rewards")
        for name, slug, _ in MERCHANTS
    ]


def _programs(session: Session, targets: Targets) -> list[tuple[int, str]]:
    programs = []
    for (name, _slug, label), (class_id, _, program_name) in zip(
        MERCHANTS, class_ids(targets), strict=True
    ):
        merchant = Merchant(name=name)
        program = Program(merchant=merchant, name=program_name, points_label=label)
        session.add(program)
        session.flush()
        programs.append((program.id, class_id))
    return programs


def _card(
    i: int, rng: random.Random, programs: list[tuple[int, str]], targets: Targets
) -> dict[str, Any]:
    program_id, class_id = programs[i % len(programs)]
    kind = rng.choices(["both", "google", "apple"], weights=[4, 3, 3])[0]
    transactions = rng.randint(1, 4)
    return {
        "id": i,
        "program_id": program_id,
        "holder_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "account_id": f"M{program_id}-{i:07d}",
        "points_balance": rng.randint(0, 5000),
        "version": 1 + transactions,
        "google_object_id": f"{targets.issuer_id}.card-{i}"
        if kind != "apple"
        else None,
        "google_class_id": class_id if kind != "apple" else None,
        "apple_serial": f"card-{i}" if kind != "google" else None,
        "apple_pass_type_id": targets.pass_type_id if kind != "google" else None,
    }


def _transactions(
    cards: list[dict[str, Any]], rng: random.Random
) -> list[dict[str, Any]]:
    return [
        {"card_id": card["id"], "delta": rng.randint(-200, 400), "description": "sale"}
        for card in cards
        for _ in range(card["version"] - 1)
    ]


def _devices(
    session: Session, cards: list[dict[str, Any]], rng: random.Random
) -> dict[int, str]:
    """A device per Apple pass plus a shared tablet; returns solo tokens by card."""
    apple = [card for card in cards if card["apple_serial"]]
    tokens = {card["id"]: f"{rng.getrandbits(256):064x}" for card in apple}
    devices = [
        {"device_library_id": f"device-{card_id}", "push_token": token}
        for card_id, token in tokens.items()
    ]
    shared = {
        "device_library_id": "device-family-tablet",
        "push_token": f"{rng.getrandbits(256):064x}",
    }
    session.execute(insert(AppleDevice), [*devices, shared])
    rows = session.execute(select(AppleDevice.device_library_id, AppleDevice.id))
    ids = {row.device_library_id: row.id for row in rows}
    registrations = [
        {
            "device_id": ids[f"device-{card['id']}"],
            "pass_type_id": card["apple_pass_type_id"],
            "serial_number": card["apple_serial"],
        }
        for card in apple
    ]
    tablet_cards = rng.sample(apple, k=min(len(apple), max(1, len(apple) // 20)))
    registrations += [
        {
            "device_id": ids["device-family-tablet"],
            "pass_type_id": card["apple_pass_type_id"],
            "serial_number": card["apple_serial"],
        }
        for card in tablet_cards
    ]
    session.execute(insert(AppleRegistration), registrations)
    shared_ids = {card["id"] for card in tablet_cards}
    return {
        card_id: token for card_id, token in tokens.items() if card_id not in shared_ids
    }


def _plan(
    cards: list[dict[str, Any]], solo_tokens: dict[int, str], rng: random.Random
) -> Plan:
    """Pick the faulty cards; each fault hits exactly one card."""
    plan = Plan()
    share = max(1, len(cards) // 50)
    google = [card for card in cards if card["google_object_id"]]
    apple = [card for card in cards if card["id"] in solo_tokens]
    picked: set[int] = set()

    def pick(pool: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
        free = [card for card in pool if card["id"] not in picked]
        chosen = rng.sample(free, k=min(count, len(free)))
        picked.update(card["id"] for card in chosen)
        return chosen

    for card in pick(google, share):
        _add(plan, card, "google", card["google_object_id"], 400, None, fails=True)
    for card in pick(google, max(1, share // 2)):
        _add(plan, card, "google", card["google_object_id"], 503, None, fails=True)
    for card in pick(apple, max(1, share // 2)):
        _add(plan, card, "apple", solo_tokens[card["id"]], 503, None, fails=True)
    for card in pick(google, share):
        _add(
            plan,
            card,
            "google",
            card["google_object_id"],
            503,
            rng.randint(1, 3),
            fails=False,
        )
    for card in pick(apple, share):
        _add(
            plan,
            card,
            "apple",
            solo_tokens[card["id"]],
            500,
            rng.randint(1, 3),
            fails=False,
        )
    for card in pick(apple, share):
        plan.dead_tokens.append(solo_tokens[card["id"]])
        plan.faults.append(
            Fault(card["id"], "apple", solo_tokens[card["id"]], 410, None)
        )
    return plan


def _add(
    plan: Plan,
    card: dict[str, Any],
    wallet: str,
    target: str,
    status: int,
    times: int | None,
    *,
    fails: bool,
) -> None:
    plan.faults.append(Fault(card["id"], wallet, target, status, times))
    (plan.failing_card_ids if fails else plan.recovering_card_ids).append(card["id"])
