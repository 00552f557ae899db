"""Helpers for tests that run wallet-sync's own commands as processes."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Where the virtual environment's console scripts are.
BIN = Path(sys.executable).parent


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines a shell would source, as a dict."""
    pairs = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = shlex.split(value)[0] if value else ""
    return pairs


@contextmanager
def running_emulators(workdir: Path, timeout_s: float = 20) -> Iterator[dict[str, str]]:
    """``wallet-sync emulate`` on free ports; yields the settings it wrote."""
    env_file = workdir / "emulators.env"
    process = subprocess.Popen(
        [
            str(BIN / "wallet-sync"),
            "emulate",
            "--google-port",
            "0",
            "--apns-port",
            "0",
            "--env-file",
            str(env_file),
            "--workdir",
            str(workdir / "pki"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        while not env_file.exists():
            assert process.poll() is None, "wallet-sync emulate exited early"
            assert time.monotonic() - started < timeout_s, "emulators did not start"
            time.sleep(0.05)
        yield read_env_file(env_file)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
