"""The finder in a process of its own, so that its peak memory is its own.

Run by :mod:`benchmarks.scale` with the world's settings in the environment:
opens a run and fills it exactly as the ``find_cards`` actor does, then prints
one JSON line: cards, seconds, and resident memory before and at the peak.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    from pipeline import actors, runs
    from pipeline.settings import get_settings

    settings = get_settings()
    run_id = runs.open_run(settings, "manual")
    assert run_id is not None
    before = _status_kib("VmRSS")
    started = time.perf_counter()
    total = actors.find_cards.fn(run_id=run_id)
    seconds = time.perf_counter() - started
    answer = {
        "cards": total,
        "seconds": round(seconds, 3),
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_mib": round(_status_kib("VmHWM") / 1024, 1),
    }
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
