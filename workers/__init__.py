"""What the processes run.

``dramatiq workers`` and ``periodiq workers`` import this module: it sets up
logging and the Redis broker from ``WALLET_SYNC_*`` settings, then declares the
actors on it. Run many worker processes on many hosts against one Redis, and
exactly one ``periodiq workers`` scheduler.
"""

from pipeline import broker as _broker
from pipeline import logs as _logs
from pipeline.settings import get_settings as _get_settings

_settings = _get_settings()
_logs.configure(_settings.log_level, _settings.log_format)
broker = _broker.setup(_settings, metrics=True)

from pipeline import actors  # noqa: E402  (the broker must exist first)

__all__ = ["actors", "broker"]
