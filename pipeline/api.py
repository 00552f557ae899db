"""What an application calls: sync cards now, or open a whole run now.

Both take the same path as the hourly finder: a run in the ledger, one
``sync_card`` message per card, a report when the run closes. The broker must
be set up (``pipeline.broker.setup``) before the first call.
"""

from __future__ import annotations

from functools import partial

from pipeline import ledger, runs
from pipeline.db import session_scope
from pipeline.settings import Settings, get_settings


def sync_cards(
    card_ids: list[int], settings: Settings | None = None, *, trigger: str = "cards"
) -> int:
    """Enqueue a sync of these cards as a run of their own; returns its id.

    ``trigger`` names who asked, in the run's listing (``cards`` by default).

    Raises :class:`~pipeline.errors.CardNotFound` or
    :class:`~pipeline.errors.CardNotSyncable` naming the first bad id, before
    anything is enqueued.
    """
    from pipeline import actors

    settings = settings or get_settings()
    if not card_ids:
        raise ValueError("no card ids given")
    with session_scope(settings.database_url) as session:
        ledger.check_syncable(session, card_ids)
    run_id = runs.open_run(settings, trigger)
    assert run_id is not None
    runs.dispatch(
        settings,
        actors.broker,
        run_id,
        actors.sync_card,
        actors.collect_run,
        partial(ledger.add_cards, run_id=run_id, card_ids=card_ids),
    )
    return run_id


def start_run(settings: Settings | None = None) -> int:
    """Open a run over every due card now, as the hourly trigger would."""
    from pipeline import actors

    settings = settings or get_settings()
    run_id = runs.open_run(settings, "manual")
    assert run_id is not None
    try:
        actors.find_cards.send(run_id=run_id)
    except Exception:
        # Nothing was sent for it: a run left behind would only wait for its
        # deadline with no card in it.
        runs.discard_empty_run(settings, run_id)
        raise
    return run_id
