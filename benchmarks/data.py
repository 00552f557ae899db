"""Benchmark data: Google-only cards made in the database server, objects made
in the emulator, so every sync of a due card is exactly one PATCH.

A card's first sync of an object the wallet lacks costs two calls (PATCH 404,
then insert); the benchmark primes the emulator with every object first, so
the pipeline's calls per card are known (1 without failures) and the same as
the bare actor's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from google.oauth2 import service_account
from sqlalchemy import text

from benchmarks.cards import object_id, patch_body
from pipeline.db import get_engine
from pipeline.wallets.google import SCOPE, HttpxRequest

CLASS_SUFFIX = "bench"
PRIME_THREADS = 16


def class_id(issuer_id: str) -> str:
    return f"{issuer_id}.{CLASS_SUFFIX}"


def make_cards(database_url: str, count: int, issuer_id: str) -> None:
    """``count`` Google-only cards, all due, in one statement on the server."""
    statements = [
        "INSERT INTO merchants (id, name) VALUES (1, 'Bench Coffee')",
        "INSERT INTO programs (id, merchant_id, name, points_label) "
        "VALUES (1, 1, 'Bench Rewards', 'Points')",
        """
        INSERT INTO loyalty_cards (
            id, program_id, holder_name, account_id, points_balance, version,
            updated_at, google_object_id, google_class_id, google_synced_version,
            apple_update_tag, apple_synced_version)
        SELECT g, 1, 'Holder ' || g, 'B-' || lpad(g::text, 8, '0'), g % 5000, 2,
               now(), :issuer || '.bench-' || g, :class_id, 0, 0, 0
        FROM generate_series(1, :count) AS g
        """,
    ]
    params = {"issuer": issuer_id, "class_id": class_id(issuer_id), "count": count}
    with get_engine(database_url).begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)
        connection.execute(text("ANALYZE loyalty_cards"))


def make_due(database_url: str, count: int | None = None) -> None:
    """Make the first ``count`` cards (all when None) due again, as a new
    transaction on each would; cards beyond ``count`` are marked synced."""
    limit = count if count is not None else 2**62
    with get_engine(database_url).begin() as connection:
        connection.execute(
            text(
                "UPDATE loyalty_cards SET version = version + 1, "
                "google_synced_version = CASE WHEN id <= :limit "
                "THEN google_synced_version ELSE version + 1 END"
            ),
            {"limit": limit},
        )
        connection.execute(text("ANALYZE loyalty_cards"))


def reset_ledger(database_url: str) -> None:
    with get_engine(database_url).begin() as connection:
        connection.execute(
            text("TRUNCATE sync_outcomes, wallet_breakers, sync_runs CASCADE")
        )


def google_token(credentials_file: str) -> str:
    """A bearer token from the emulator's token endpoint, as the pipeline gets one."""
    credentials = service_account.Credentials.from_service_account_file(
        credentials_file, scopes=[SCOPE]
    )
    with httpx.Client(timeout=30) as http:
        credentials.refresh(HttpxRequest(http))
    return str(credentials.token)


def prime_objects(api_url: str, token: str, issuer_id: str, count: int) -> None:
    """Create the class and every card's object in the emulator."""
    headers = {"authorization": f"Bearer {token}"}
    base = api_url.rstrip("/")
    with httpx.Client(
        timeout=30,
        headers=headers,
        limits=httpx.Limits(max_connections=PRIME_THREADS),
    ) as http:
        answer = http.post(
            f"{base}/loyaltyClass",
            json={
                "id": class_id(issuer_id),
                "issuerName": "Bench Coffee",
                "programName": "Bench Rewards",
                "reviewStatus": "UNDER_REVIEW",
            },
        )
        if answer.status_code != 409:
            answer.raise_for_status()

        def insert(card_id: int) -> None:
            body = {
                "id": object_id(issuer_id, card_id),
                "classId": class_id(issuer_id),
                **patch_body(card_id),
            }
            response = http.post(f"{base}/loyaltyObject", json=body)
            if response.status_code != 409:
                response.raise_for_status()

        with ThreadPoolExecutor(PRIME_THREADS) as pool:
            list(pool.map(insert, range(1, count + 1)))
