"""Structured logging: JSON lines off a terminal, readable lines on one.

Every module logs through ``structlog.get_logger(__name__)`` with a stable
dotted event name and flat fields; the middleware binds run id, card id,
message id and attempt to every line of one message's work.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

from pipeline.errors import WalletSyncError


def _add_pid(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Name the process: a host runs several workers, each a process."""
    event.setdefault("pid", os.getpid())
    return event


def configure(level: str = "INFO", fmt: str = "auto") -> None:
    """Route structlog and the standard library through one formatter."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_pid,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler.addFilter(_expected_failures)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "hpack", "hypercorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _expected_failures(record: logging.LogRecord) -> bool:
    """Drop Dramatiq's traceback for a card that failed the expected way.

    The worker logs every failed attempt at error level with a traceback; for
    wallet errors the pipeline already logs one event per retry and per failed
    card, so the traceback would only bury them.
    """
    if not record.name.startswith("dramatiq.worker") or not record.exc_info:
        return True
    return not isinstance(record.exc_info[1], WalletSyncError)
