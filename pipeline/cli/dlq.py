"""``wallet-sync dlq``: list, show, requeue and purge dead messages.

MESSAGE_ID is Dramatiq's message id (the same across a message's retries and
shown by ``dlq list``); an unambiguous prefix of six or more characters will
do. A payload that cannot be decoded is named ``redis:<redis message id>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer

from pipeline import deadletters, reporting
from pipeline import requeue as requeuing
from pipeline.advice import advice_for
from pipeline.cli.app import Exit, app, emit_json, fail
from pipeline.cli.common import (
    JsonOption,
    echo_lines,
    flowing_help,
    quiet_logs,
    sending_broker,
    services,
)
from pipeline.db import session_scope
from pipeline.deadletters import AmbiguousMessageId, DeadLetter, DeadLetterQueue
from pipeline.settings import Settings, get_settings

dlq_app = typer.Typer(
    help="The dead-letter queue: messages that failed for good.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")

T = TypeVar("T")
#: ``dlq list`` shows this many entries unless --limit says otherwise.
DEFAULT_LIST_LIMIT = 200
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d`` or ``1w``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30m, 2h or 7d")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def parse_moment(text: str) -> datetime:
    """A duration back from now (``2h``), or an ISO 8601 time (UTC if no zone)."""
    if _DURATION.match(text):
        return datetime.now(UTC) - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration like 2h nor a time like 2026-01-31T08:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _option(parse: Callable[[str], T], name: str, text: str | None) -> T | None:
    """The parsed option, or a usage error naming it."""
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as error:
        fail(f"{name}: {error}", Exit.USAGE)


ActorOption = Annotated[
    str | None, typer.Option("--actor", help="Only messages of this actor.")
]
CardOption = Annotated[
    int | None, typer.Option("--card", help="Only sync_card messages of this card.")
]


@dlq_app.command("list")
@flowing_help
def list_dead(
    actor: ActorOption = None,
    card: CardOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only messages that died since: 2h, 7d or an ISO time."),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            min=0, help="Show at most this many, newest first; 0 shows them all."
        ),
    ] = DEFAULT_LIST_LIMIT,
    json_output: JsonOption = False,
) -> None:
    """List dead messages, newest first, with each card's final error.

    With --json the output is an object: "messages" (the entries shown),
    "total" (how many matched) and "omitted" (how many older ones --limit
    left out).

    Example: wallet-sync dlq list --since 6h --actor sync_card
    """
    settings = get_settings()
    moment = _option(parse_moment, "--since", since)
    with services(), DeadLetterQueue.from_settings(settings) as dlq:
        entries = deadletters.select_entries(
            dlq.entries(since=moment), actor=actor, card_id=card
        )
        shown = entries[:limit] if limit else entries
        described = _described(settings, shown)
    omitted = len(entries) - len(shown)
    if json_output:
        emit_json({"messages": described, "total": len(entries), "omitted": omitted})
        return
    if not described:
        typer.echo("no dead messages" + (" match" if actor or card or since else ""))
        return
    echo_lines(_list_lines(described))
    if omitted:
        typer.echo(f"… {omitted} older ones not shown (raise --limit, or --limit 0)")


def _described(settings: Settings, entries: list[DeadLetter]) -> list[dict[str, Any]]:
    with session_scope(settings.database_url) as session:
        outcomes = deadletters.final_errors(session, entries)
    return [
        deadletters.describe(
            entry, outcomes.get(entry.ledger_key) if entry.ledger_key else None
        )
        for entry in entries
    ]


def _list_lines(described: list[dict[str, Any]]) -> list[str]:
    return reporting.table_lines(
        ["message id", "died", "actor", "card", "run", "attempts", "kind", "error"],
        [
            [
                d["message_id"],
                d["died_at"][:19].replace("T", " "),
                d["actor"] or "?",
                d["card_id"] if d["card_id"] is not None else "-",
                d["run_id"] if d["run_id"] is not None else "-",
                d["attempts"] if d["attempts"] is not None else "?",
                d["error_kind"] or "-",
                _shorten(deadletters.first_line(d["error"]) or "-", 70),
            ]
            for d in described
        ],
    )


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@dlq_app.command("show")
@flowing_help
def show(
    message_id: Annotated[str, typer.Argument(help="Dramatiq message id (or prefix).")],
    json_output: JsonOption = False,
) -> None:
    """Show one dead message with its card, run, attempts and final error.

    The final error of a card is the one the ledger recorded, not the
    traceback of an earlier attempt that Dramatiq keeps on the message.
    MESSAGE_ID may be the whole id or a prefix of 6 or more characters.

    Example: wallet-sync dlq show 3f2a9c1e
    """
    settings = get_settings()
    with services(), DeadLetterQueue.from_settings(settings) as dlq:
        entries = _find(dlq, [message_id])
        described = _described(settings, entries)
    if json_output:
        emit_json(described[0] if len(described) == 1 else described)
        return
    for index, entry in enumerate(described):
        if index:
            typer.echo("")
        echo_lines(_show_lines(entry))


def _show_lines(d: dict[str, Any]) -> list[str]:
    source = {
        "ledger": "the card's recorded outcome",
        "payload": "Dramatiq's stored traceback; may be an earlier attempt's",
        "unreadable": "the payload could not be decoded",
        "none": "nothing recorded",
    }[d["error_source"]]
    rows: list[tuple[str, Any]] = [
        ("message id", d["message_id"]),
        ("redis id", f"{d['redis_message_id']} (queue {d['queue']})"),
        ("actor", d["actor"] or "? (payload unreadable)"),
        ("arguments", _arguments(d)),
        ("card", d["card_id"] if d["card_id"] is not None else "-"),
        ("run", d["run_id"] if d["run_id"] is not None else "-"),
        ("enqueued", d["enqueued_at"] or "-"),
        ("died", d["died_at"]),
        ("attempts", d["attempts"] if d["attempts"] is not None else "?"),
        ("outcome", d["outcome"] or "-"),
        ("error kind", d["error_kind"] or "-"),
        ("final error", deadletters.first_line(d["error"]) or "-"),
        ("error from", source),
    ]
    if d["error_kind"]:
        advice = advice_for(d["error_kind"])
        rows += [("meaning", advice.meaning), ("what to do", advice.action)]
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def _arguments(d: dict[str, Any]) -> str:
    if d["kwargs"] is None:
        return "-"
    parts = [repr(a) for a in d["args"] or []]
    parts += [f"{k}={v!r}" for k, v in sorted(d["kwargs"].items())]
    return ", ".join(parts) or "none"


def _find(dlq: DeadLetterQueue, message_ids: list[str]) -> list[DeadLetter]:
    """The dead letters of each id; exits NOT_FOUND naming the missing ones."""
    found: list[DeadLetter] = []
    missing = []
    for message_id in dict.fromkeys(message_ids):
        try:
            entries = dlq.find(message_id)
        except AmbiguousMessageId as error:
            fail(str(error), Exit.USAGE)
        if not entries and len(message_id) < deadletters.MIN_PREFIX:
            fail(
                f"message id {message_id!r} is too short to be a prefix: give "
                f"{deadletters.MIN_PREFIX} or more characters, or the whole id",
                Exit.USAGE,
                hint="list the ids with: wallet-sync dlq list",
            )
        if not entries:
            missing.append(message_id)
        found.extend(e for e in entries if e not in found)
    if missing:
        fail(
            f"no dead message with id {', '.join(missing)}",
            Exit.NOT_FOUND,
            hint="list them with: wallet-sync dlq list",
        )
    return found


@dlq_app.command("requeue")
@flowing_help
def requeue(
    message_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Dramatiq message ids (or prefixes).", show_default=False),
    ] = None,
    all_messages: Annotated[
        bool, typer.Option("--all", help="Requeue every dead message.")
    ] = False,
    card: Annotated[
        int | None, typer.Option("--card", help="Requeue the dead syncs of this card.")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the requeued cards' outcomes."),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 120,
    json_output: JsonOption = False,
) -> None:
    """Send dead messages again with a fresh retry budget.

    Each is removed from the dead-letter queue once its copy is enqueued.
    Card syncs go into a new run of their own (trigger "requeue"), with its
    own report; the run they died in keeps its failure. With explicit ids,
    nothing is sent if any of them cannot be requeued (unknown actor,
    unreadable payload, card gone); with --all or --card those are skipped,
    left in place and reported, and the exit code is 1.

    Example: wallet-sync dlq requeue --card 1042 --wait
    """
    chosen = sum([bool(message_ids), all_messages, card is not None])
    if chosen != 1:
        fail("give MESSAGE_IDs, --all or --card (exactly one of them)", Exit.USAGE)
    settings = get_settings()
    quiet_logs(settings)
    with services():
        result = _requeue(settings, message_ids or [], card, wait, timeout)
    _print_requeued(result, json_output)
    if result["skipped"]:
        raise typer.Exit(int(Exit.FAILED))
    outcome = result.get("outcome")
    if outcome and any(c["status"] == "failed" for c in outcome["cards"]):
        raise typer.Exit(int(Exit.FAILED))
    if outcome and not outcome["closed"]:
        fail(f"run {result['run_id']} is still open", Exit.FAILED)


def _requeue(
    settings: Settings,
    message_ids: list[str],
    card: int | None,
    wait: bool,
    timeout: float,
) -> dict[str, Any]:
    with (
        sending_broker(settings) as broker,
        DeadLetterQueue.from_settings(settings) as dlq,
    ):
        from pipeline import actors  # declared on the broker just set up

        if message_ids:
            entries = _find(dlq, message_ids)
        else:
            entries = deadletters.select_entries(dlq.entries(), card_id=card)
            if card is not None and not entries:
                fail(f"no dead sync_card message for card {card}", Exit.NOT_FOUND)
        with session_scope(settings.database_url) as session:
            plan = requeuing.plan_requeue(session, entries, broker.actors)
        if message_ids and plan.skipped:
            reasons = "; ".join(f"{e.message_id}: {why}" for e, why in plan.skipped)
            fail(f"nothing was requeued: {reasons}", Exit.FAILED)
        done = requeuing.requeue(settings, dlq, plan, broker, actors.collect_run)
    result: dict[str, Any] = {
        "run_id": done.run_id,
        "requeued": done.messages,
        "removed": done.removed,
        "skipped": [
            {"message_id": e.message_id, "actor": e.actor, "reason": why}
            for e, why in plan.skipped
        ],
    }
    if wait and done.run_id is not None:
        result["outcome"] = reporting.wait_for_outcomes(settings, done.run_id, timeout)
    return result


def _print_requeued(result: dict[str, Any], json_output: bool) -> None:
    if json_output:
        emit_json(result)
        return
    sent = result["requeued"]
    cards = [m for m in sent if m["card_id"] is not None]
    if not sent and not result["skipped"]:
        typer.echo("the dead-letter queue has nothing to requeue")
    if cards:
        typer.echo(
            f"requeued {len(cards)} card sync(s) into run {result['run_id']}; "
            f"see it with: wallet-sync report {result['run_id']}"
        )
    for message in sent:
        if message["card_id"] is None:
            typer.echo(f"requeued {message['actor']} ({message['message_id']})")
    for skipped in result["skipped"]:
        typer.echo(f"skipped {skipped['message_id']}: {skipped['reason']}")
    if "outcome" in result:
        echo_lines(reporting.outcome_lines(result["outcome"]["cards"]))


@dlq_app.command("purge")
@flowing_help
def purge(
    message_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="Only these message ids (default: all that match the options).",
            show_default=False,
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(help="Only messages that died longer ago than this: 7d, 12h."),
    ] = None,
    actor: ActorOption = None,
    card: CardOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Really delete them; nothing is kept.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete dead messages for good (all of them unless narrowed down).

    Touches only the dead-letter entries of the pipeline's two queues: waiting
    and delayed messages stay. Without --yes nothing is deleted: it says how
    many would go (with --json, which ones, as "dry_run": true) and exits 2.

    Example: wallet-sync dlq purge --older-than 7d --yes
    """
    settings = get_settings()
    age = _option(parse_duration, "--older-than", older_than)
    cutoff = datetime.now(UTC) - age if age else None
    with services(), DeadLetterQueue.from_settings(settings) as dlq:
        entries = _find(dlq, message_ids) if message_ids else dlq.entries()
        entries = [e for e in entries if cutoff is None or e.died_at < cutoff]
        entries = deadletters.select_entries(entries, actor=actor, card_id=card)
        removed = dlq.remove(entries) if yes else 0
    message_ids = sorted({e.message_id for e in entries})
    if json_output:
        emit_json(
            {
                "purged": removed,
                "dry_run": not yes,
                "would_purge": 0 if yes else len(entries),
                "message_ids": message_ids,
            }
        )
    elif yes:
        typer.echo(f"purged {removed} dead message(s)")
    if not yes:
        fail(
            f"this would delete {len(entries)} dead message(s) for good; "
            "nothing was deleted",
            Exit.USAGE,
            hint="add --yes to do it; see them first with: wallet-sync dlq list",
        )
