"""Both emulators in a process of their own, for scripts, tests and benchmarks.

In-process (``EmulatorStack``) they share the caller's GIL; a wallet API is
another process to the pipeline, and timing runs want it that way too.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

#: ``python -m pipeline.emulators``; ``wallet-sync emulate`` takes the same options.
MODULE_COMMAND = (sys.executable, "-m", "pipeline.emulators")


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines the emulators wrote, as a shell would read them."""
    pairs = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() and not key.lstrip().startswith("#"):
            pairs[key.strip()] = shlex.split(value)[0] if value else ""
    return pairs


@contextmanager
def emulator_process(
    workdir: Path,
    command: Sequence[str] = MODULE_COMMAND,
    *,
    output: IO[str] | None = None,
    start_timeout_s: float = 60.0,
) -> Iterator[dict[str, str]]:
    """Run both emulators on free ports; yields the settings they wrote.

    ``output`` receives their log (discarded by default). They are stopped
    with SIGINT on the way out, and killed if they do not stop in time.
    """
    env_file = workdir / "emulators.env"
    target = output if output is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [
            *command,
            "--google-port",
            "0",
            "--apns-port",
            "0",
            "--env-file",
            str(env_file),
            "--workdir",
            str(workdir / "pki"),
        ],
        stdout=target,
        stderr=subprocess.STDOUT if output is not None else subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not env_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulators did not start")
            time.sleep(0.05)
        yield read_env_file(env_file)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
