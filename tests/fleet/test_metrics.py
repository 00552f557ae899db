"""The Prometheus endpoint of a worker host, scraped after a run."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.fleet.conftest import Fleet, wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample of the endpoint, by name and sorted labels."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


def test_the_metrics_endpoint_adds_up_both_processes_after_a_run(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Pipeline and Dramatiq metrics of two processes, plus fleet-wide gauges."""
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    plan = fleet.seed(150)
    worker = fleet.start(
        processes=2,
        threads=4,
        WALLET_SYNC_METRICS_PORT=str(port),
        WALLET_SYNC_METRICS_HOST="127.0.0.1",
        dramatiq_prom_db=str(metrics_dir),
    )
    fleet.wait_ready(worker)
    report = fleet.report(fleet.start_run(), timeout_s=60)
    wait_until(lambda: _answers(port), 20, "the metrics endpoint never answered")

    samples = scrape(port)

    failed = len(plan["failing_card_ids"])
    assert report["cards_failed"] == failed
    assert total(samples, "wallet_sync_cards_failed_total") == failed
    assert total(samples, "wallet_sync_card_attempts_total") >= 150
    assert total(samples, "wallet_sync_cards_synced_total", wallet="google") > 0
    assert total(samples, "wallet_sync_cards_synced_total", wallet="apple") > 0
    assert (
        total(
            samples,
            "wallet_sync_runs_closed_total",
            trigger="manual",
            status="complete",
        )
        == 1
    )
    assert total(samples, "wallet_sync_run_duration_seconds_count") == 1
    assert total(samples, "wallet_sync_last_run_failure_rate") == report["failure_rate"]
    assert total(samples, "wallet_sync_last_run_cards_failed") == failed
    assert total(samples, "wallet_sync_runs_overdue") == 0
    assert total(samples, "wallet_sync_last_run_opened_timestamp_seconds") > 0
    assert total(samples, "wallet_sync_dead_letters", queue="wallet-sync") == failed
    assert total(samples, "dramatiq_messages_total", actor_name="sync_card") >= 150
    writers = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("*.db")}
    assert len(writers) >= 2, "both worker processes write metrics"
    served = {name for name, _ in samples}
    assert alerted_metrics() <= served


def alerted_metrics() -> set[str]:
    """The pipeline metrics the example alert rules use."""
    rules = yaml.safe_load((ROOT / "workers" / "alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = {
        name
        for expression in expressions
        for name in re.findall(r"\bwallet_sync_\w+", expression)
    }
    assert len(used) >= 4
    return used


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).is_success
    except httpx.TransportError:
        return False
