"""Imports every command module, so that each registers its commands.

One line per module; the names are unused on purpose.
"""

from pipeline.cli import (  # noqa: F401
    cards,
    core,
    dlq,
    runs,
    status,
)
