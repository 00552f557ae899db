"""Real ``dramatiq`` worker processes: start, wait until ready, measure, stop."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

READY = b"ready for action"
START_TIMEOUT_S = 60.0
BIN = Path(sys.executable).parent


@dataclass
class Workers:
    """One ``dramatiq`` command: a supervisor and its worker processes."""

    process: subprocess.Popen[bytes]
    log_path: Path
    processes: int
    startup_s: float = 0.0

    def tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """user + sys of the supervisor and every worker process so far."""
        total = 0.0
        for proc in self.tree():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def _children(self) -> list[psutil.Process]:
        root = psutil.Process(self.process.pid)
        return sorted(root.children(recursive=False), key=lambda p: p.create_time())

    def worker_rss_mib(self) -> list[float]:
        """RSS of each worker process, in MiB (started first, before any fork
        process such as the metrics endpoint)."""
        return [_rss(proc) for proc in self._children()[: self.processes]]

    def fork_rss_mib(self) -> list[float]:
        """RSS of the fork processes (the metrics endpoint), in MiB."""
        return [_rss(proc) for proc in self._children()[self.processes :]]

    def supervisor_rss_mib(self) -> float:
        return _rss(psutil.Process(self.process.pid))

    def wait_ready(self) -> float:
        """Block until every worker process logged that it is ready."""
        started = time.monotonic()
        while self.log_path.read_bytes().count(READY) < self.processes:
            if self.process.poll() is not None:
                raise RuntimeError(f"workers exited early; see {self.log_path}")
            if time.monotonic() - started > START_TIMEOUT_S:
                raise RuntimeError(f"workers did not start; see {self.log_path}")
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for proc in reversed(self.tree()):
                proc.kill()
            self.process.wait()


def _rss(proc: psutil.Process) -> float:
    return round(proc.memory_info().rss / 2**20, 1)


@contextmanager
def workers(
    module: str,
    processes: int,
    threads: int,
    env: dict[str, str],
    log_path: Path,
) -> Iterator[Workers]:
    """``dramatiq MODULE -p P -t T`` with ``env``, stopped on the way out."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            str(BIN / "dramatiq"),
            module,
            "-p",
            str(processes),
            "-t",
            str(threads),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    group = Workers(process, log_path, processes)
    try:
        group.startup_s = group.wait_ready()
        yield group
    finally:
        group.stop()
        log.close()
