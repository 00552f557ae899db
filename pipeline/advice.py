"""What each failure kind of a run report means, and what an operator does next.

One table, keyed by the ``kind`` of the error classes in :mod:`pipeline.errors`
and the kinds the ledger and the actors add themselves (``lost``,
``crashed``, ``malformed_message``, ``not_in_run``). Reports,
``wallet-sync report``, ``wallet-sync dlq show`` and README all read it from
here, so the wording stays in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Advice:
    """A failure kind in words: what happened, and what to do about it."""

    meaning: str
    action: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


_TRANSIENT_ACTION = (
    "Nothing per card: the card stays due and the next hourly run retries it. "
    "If many cards failed this way, check the provider's status and "
    "`wallet-sync status`."
)

ADVICE: dict[str, Advice] = {
    "timeout": Advice(
        "The wallet API did not answer in time, on every attempt.", _TRANSIENT_ACTION
    ),
    "connection": Advice(
        "The wallet API could not be reached (refused, reset, DNS or HTTP/2 "
        "failure), on every attempt.",
        _TRANSIENT_ACTION,
    ),
    "server_error": Advice(
        "The wallet API answered 5xx on every attempt.", _TRANSIENT_ACTION
    ),
    "bad_response": Advice(
        "The wallet API answered something it does not document, on every attempt.",
        _TRANSIENT_ACTION,
    ),
    "transient": Advice(
        "A temporary wallet API error that persisted through every attempt.",
        _TRANSIENT_ACTION,
    ),
    "rate_limited": Advice(
        "The wallet API throttled us (429 or a rate-limit reason) on every attempt.",
        "The next run retries the card. If it recurs, run fewer worker threads "
        "or processes, or ask the provider for more quota.",
    ),
    "credentials": Advice(
        "The wallet refused our credentials or certificate (401/403, TLS "
        "refused, APNs topic not allowed): every card of that wallet fails alike.",
        "Run `wallet-sync status`, fix the key file, certificate or issuer "
        "permission it names, then re-sync with `wallet-sync sync-card ID …` "
        "or wait for the next run (the cards stay due).",
    ),
    "wallet_disabled": Advice(
        "The run stopped calling this wallet after repeated credential or "
        "certificate failures; this card was not tried.",
        "Same as credentials: run `wallet-sync status` and fix what it names; "
        "the card stays due.",
    ),
    "rejected": Advice(
        "The wallet API refused the request itself (a 400 or similar): sending "
        "it again would fail the same way.",
        "Read the error message, fix the card's data (object id, account "
        "fields) or the program's wallet setup, then `wallet-sync sync-card ID`. "
        "Until then every run tries the card and fails.",
    ),
    "class_missing": Advice(
        "The Google object did not exist, so it had to be inserted, but its "
        "class does not exist or the card names none. (A deleted or "
        "never-created object is otherwise re-created automatically.)",
        "Create the class in the Google Pay & Wallet Console, or set the "
        "card's google_class_id, then `wallet-sync sync-card ID`.",
    ),
    "permanent": Advice(
        "The wallet API refused the call for good.",
        "Read the error message; fix the cause, then `wallet-sync sync-card ID`.",
    ),
    "wallet_error": Advice(
        "A wallet API call failed.",
        "Read the error message; the card stays due for the next run.",
    ),
    "lost": Advice(
        "No outcome arrived before the run's deadline: no worker took the "
        "message in time (workers down or overloaded), or the message was "
        "lost, or the card failed for good while the database was unreachable, "
        "so its failure could not be recorded (the worker log then shows "
        "message.dead_letter_hook_failed for the card).",
        "Check that workers run and the queues drain (`wallet-sync status` "
        "shows live workers and queue depths). If the database was down, "
        "requeue the dead letters once it is back: `wallet-sync dlq requeue "
        "--all`. Either way the card stays due; the next run picks it up.",
    ),
    "crashed": Advice(
        "Every attempt started but none ended with an outcome: the worker "
        "running the card most likely died (killed, out of memory).",
        "Search the worker logs for the card id around the run's time; "
        "`wallet-sync sync-card ID --inline` reproduces it in the foreground.",
    ),
    "card_not_found": Advice(
        "The card was deleted after its sync was queued.",
        "Nothing to sync. Delete that card's dead letters, and only those: "
        "`wallet-sync dlq purge --card ID --yes`.",
    ),
    "malformed_message": Advice(
        "A sync_card message whose run_id or card_id is not an integer: it was "
        "not sent by wallet-sync's own code (a hand-made or foreign message).",
        "Find who sends it (`wallet-sync dlq show MESSAGE_ID` shows its "
        "arguments), then delete it: `wallet-sync dlq purge MESSAGE_ID --yes`. "
        "Re-sync a card with `wallet-sync sync-card ID`.",
    ),
    "not_in_run": Advice(
        "The message names a card the run never listed (no pending outcome for "
        "it), so there was nothing to record it against.",
        "Re-sync the card in a run of its own with `wallet-sync sync-card ID`, "
        "and delete the stray message: `wallet-sync dlq purge MESSAGE_ID --yes`.",
    ),
    "no_integration": Advice(
        "The card no longer has a Google object or an Apple pass.",
        "Nothing to sync, unless the integration was removed by mistake: then "
        "restore the card's Google object id or Apple pass and run "
        "`wallet-sync sync-card ID`; otherwise delete its dead letters with "
        "`wallet-sync dlq purge --card ID --yes`.",
    ),
    "unexpected": Advice(
        "An error the code does not anticipate: most likely a bug.",
        "Read the worker log for the card (event card.failed and its "
        "traceback); `wallet-sync sync-card ID --inline` reproduces it. "
        "The card stays due.",
    ),
    "dead_lettered": Advice(
        "The message was dead-lettered without an error (for example it "
        "exceeded its age limit).",
        "Requeue it with `wallet-sync dlq requeue`, or let the next run pick "
        "the card up.",
    ),
}

UNKNOWN = Advice(
    "A failure kind this version does not describe.",
    "Read the error message and the worker logs for the card.",
)


def advice_for(kind: str | None) -> Advice:
    """The advice for ``kind``; a generic one for kinds not in the table."""
    return ADVICE.get(kind or "", UNKNOWN)


def advice_by_kind(kinds: Iterable[str]) -> dict[str, dict[str, str]]:
    """Advice for each distinct kind, keyed by kind, for JSON output."""
    return {kind: advice_for(kind).as_dict() for kind in sorted(set(kinds))}
