"""Helpers for tests that run wallet-sync's own commands as processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.emulators import emulator_process

#: Where the virtual environment's console scripts are.
BIN = Path(sys.executable).parent


@contextmanager
def running_emulators(workdir: Path) -> Iterator[dict[str, str]]:
    """``wallet-sync emulate`` on free ports; yields the settings it wrote."""
    with emulator_process(workdir, (str(BIN / "wallet-sync"), "emulate")) as env:
        yield env
