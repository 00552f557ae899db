"""What a benchmark card looks like in the wallet, shared by the data set and
the bare actor (which must send exactly what the pipeline sends)."""

from __future__ import annotations


def object_id(issuer_id: str, card_id: int) -> str:
    """The Google object id the benchmark data gives a card."""
    return f"{issuer_id}.bench-{card_id}"


def patch_body(card_id: int) -> dict[str, object]:
    """The body the pipeline sends for a benchmark card (see ``benchmarks.data``)."""
    return {
        "state": "ACTIVE",
        "accountId": f"B-{card_id:08d}",
        "accountName": f"Holder {card_id}",
        "loyaltyPoints": {"label": "Points", "balance": {"int": card_id % 5000}},
    }
