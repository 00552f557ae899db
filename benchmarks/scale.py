"""The finder at scale: a million cards, ten million transactions.

The data is made by the database server itself (``generate_series`` in
INSERT … SELECT) in a schema of its own, dropped afterwards. Foreign-key
triggers are skipped while loading (``session_replication_role = replica``,
which needs a superuser, as the default test server's ``postgres`` is): the
rows are consistent by construction, and checking ten million references one
by one would triple the load time without telling us anything.

For each share of due cards the finder runs in a child process of its own (the
process whose memory is measured: its peak RSS, ``VmHWM``), exactly as
``find_cards`` does it: ``runs.dispatch`` with ``ledger.add_due_cards``. The
plans of the finder's two queries come from ``EXPLAIN (ANALYZE, BUFFERS)``; the
INSERT is explained inside a transaction that is rolled back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text

from benchmarks.env import World, flush_namespace
from pipeline.db import get_engine

FINDER_CHILD = "benchmarks.finder_child"


@dataclass
class ScaleResult:
    cards: int
    transactions: int
    load_s: dict[str, float] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)


def load(world: World, cards: int, transactions: int) -> dict[str, float]:
    """Cards (none due yet) and transactions, made on the server; timings."""
    timings = {}
    engine = get_engine(world.database_url)
    steps = [
        ("cards", _CARDS, {"cards": cards}),
        ("transactions", _TRANSACTIONS, {"cards": cards, "rows": transactions}),
    ]
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(_PROGRAMS))
        for name, statement, params in steps:
            started = time.perf_counter()
            connection.execute(text(statement), params)
            timings[name] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE loyalty_cards"))
        conn.execute(text("VACUUM ANALYZE point_transactions"))
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


_PROGRAMS = """
INSERT INTO merchants (id, name) VALUES (1, 'Scale');
INSERT INTO programs (id, merchant_id, name, points_label)
VALUES (1, 1, 'Scale Rewards', 'Points');
"""
_CARDS = """
INSERT INTO loyalty_cards (
    id, program_id, holder_name, account_id, points_balance, version, updated_at,
    google_object_id, google_class_id, google_synced_version,
    apple_serial, apple_pass_type_id, apple_update_tag, apple_synced_version)
SELECT g, 1, 'Holder ' || g, 'S-' || lpad(g::text, 8, '0'), g % 5000, 11, now(),
       CASE WHEN g % 10 < 7 THEN 'scale.card-' || g END,
       CASE WHEN g % 10 < 7 THEN 'scale.class' END, 11,
       CASE WHEN g % 10 >= 4 THEN 'card-' || g END,
       CASE WHEN g % 10 >= 4 THEN 'pass.scale' END, 0, 11
FROM generate_series(1, :cards) AS g
"""
_TRANSACTIONS = """
INSERT INTO point_transactions (card_id, delta, description, created_at)
SELECT 1 + (g % :cards), (g % 400) - 100, 'sale',
       now() - make_interval(mins => (g % 43200)::int)
FROM generate_series(1, :rows) AS g
"""


def make_due(world: World, due: int) -> float:
    """The first ``due`` cards changed since their last sync; the rest synced."""
    started = time.perf_counter()
    engine = get_engine(world.database_url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE sync_outcomes, sync_runs CASCADE"))
        connection.execute(
            text(
                "UPDATE loyalty_cards SET version = version + 1 WHERE id <= :due "
                "AND google_synced_version = version AND apple_synced_version = version"
            ),
            {"due": due},
        )
        connection.execute(
            text(
                "UPDATE loyalty_cards SET google_synced_version = version, "
                "apple_synced_version = version WHERE id > :due AND "
                "(google_synced_version < version OR apple_synced_version < version)"
            ),
            {"due": due},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE loyalty_cards"))
    return time.perf_counter() - started


def run_finder(world: World) -> dict[str, Any]:
    """The finder in a child process; its own account of time and memory."""
    done = subprocess.run(
        [sys.executable, "-m", FINDER_CHILD],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the finder child failed:\n{done.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def explain(world: World) -> dict[str, str]:
    """Plans of the finder's INSERT … SELECT and of its page query.

    The finder's own functions run with a listener noting the SQL they send;
    each noted statement is then explained with its parameters. All of it
    happens in one transaction that is rolled back.
    """
    from pipeline import ledger
    from pipeline.db import session_scope
    from pipeline.models import SyncRun, utcnow

    noted: dict[str, tuple[str, Any]] = {}

    def note(conn: Any, cursor: Any, sql: str, params: Any, *args: Any) -> None:
        if sql.lstrip().upper().startswith("INSERT INTO SYNC_OUTCOMES"):
            noted["add_due_cards"] = (sql, params)
        elif "FROM sync_outcomes" in sql and "ORDER BY" in sql:
            noted["card_ids_page"] = (sql, params)

    engine = get_engine(world.database_url)
    with session_scope(world.database_url) as session:
        run = SyncRun(trigger="explain", opened_at=utcnow(), deadline_at=utcnow())
        session.add(run)
        session.flush()
        event.listen(engine, "before_cursor_execute", note)
        try:
            ledger.add_due_cards(session, run.id)
            ledger.card_ids_page(session, run.id, after=0, limit=1000)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        connection = session.connection()
        plans = {"card_ids_page": _plan(connection, *noted["card_ids_page"])}
        connection.execute(text(f"DELETE FROM sync_outcomes WHERE run_id = {run.id}"))
        plans["add_due_cards"] = _plan(connection, *noted["add_due_cards"])
        session.rollback()
    return plans


def _plan(connection: Any, sql: str, params: Any) -> str:
    result = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
    return "\n".join(row[0] for row in result)


def clear_queues(world: World) -> None:
    client = world.redis()
    try:
        flush_namespace(client, world.namespace)
    finally:
        client.close()
