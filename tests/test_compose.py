"""compose.yaml, checked without Docker: every command exists in the package,
dependencies wait for health, secrets are files, README matches it."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP_SERVICES = ("migrate", "worker", "scheduler", "emulators")
VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose's ``${NAME:-default}``, with every variable unset."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda match: match.group(2) or "", value)
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    return value


@cache
def compose() -> dict[str, Any]:
    return dict(interpolate(yaml.safe_load((ROOT / "compose.yaml").read_text())))


def service(name: str) -> dict[str, Any]:
    return dict(compose()["services"][name])


@cache
def help_text(*command: str) -> str:
    done = subprocess.run(
        [str(BIN / command[0]), *command[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


def options_of(command: list[str]) -> list[str]:
    return [part for part in command if part.startswith("--")]


def test_redis_keeps_an_append_only_file_and_both_stores_report_health() -> None:
    """Redis runs with AOF on a volume; Redis and PostgreSQL have health checks."""
    redis = service("redis")
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    for name in ("redis", "postgres", "emulators"):
        assert service(name)["healthcheck"]["test"], name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_command_exists_in_the_package(name: str) -> None:
    """Each command is an installed console script whose options exist."""
    command = service(name)["command"]
    program = command[0]
    assert (BIN / program).exists(), program
    if program == "wallet-sync":
        words = [part for part in command[1:] if not part.startswith("-")]
        subcommand = words[:2] if words[0] == "db" else words[:1]
        text = help_text(program, *subcommand)
    else:
        # `dramatiq workers` and `periodiq workers` import the workers module.
        assert command[1] == "workers"
        assert importlib.util.find_spec("workers") is not None
        text = help_text(program)
    for option in options_of(command):
        assert option in text, (name, option)


def test_workers_scale_and_stop_gracefully() -> None:
    """Processes and threads come from the environment; Docker waits for the
    shutdown timeout before it kills."""
    worker = service("worker")
    raw = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["worker"]
    assert (
        "${WORKER_PROCESSES" in raw["command"][raw["command"].index("--processes") + 1]
    )
    assert "${WORKER_THREADS" in raw["command"][raw["command"].index("--threads") + 1]
    timeout_ms = int(
        worker["command"][worker["command"].index("--worker-shutdown-timeout") + 1]
    )
    grace = worker["stop_grace_period"]
    assert grace.endswith("s")
    assert int(grace[:-1]) * 1000 > timeout_ms
    assert "container_name" not in worker  # would forbid --scale
    assert "ports" not in worker  # a fixed host port would forbid --scale too


def test_services_wait_for_healthy_dependencies() -> None:
    """Workers wait for healthy stores and a finished migration."""
    conditions = {
        name: spec["condition"]
        for name, spec in service("worker")["depends_on"].items()
    }
    assert conditions == {
        "redis": "service_healthy",
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
        "emulators": "service_healthy",
    }
    assert service("worker")["depends_on"]["emulators"]["required"] is False
    assert service("migrate")["depends_on"]["postgres"]["condition"] == (
        "service_healthy"
    )
    assert service("scheduler")["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_one_scheduler_in_utc_that_restarts() -> None:
    """periodiq: one replica, TZ=UTC, restarted when it exits."""
    scheduler = service("scheduler")
    assert scheduler["command"] == ["periodiq", "workers"]
    assert scheduler["environment"]["TZ"] == "UTC"
    assert scheduler["deploy"]["replicas"] == 1
    assert scheduler["restart"] == "unless-stopped"


def test_only_the_emulators_are_in_the_dev_profile() -> None:
    """The emulators are dev-only and advertise a name other containers reach."""
    profiled = {
        name: spec.get("profiles") for name, spec in compose()["services"].items()
    }
    assert profiled.pop("emulators") == ["dev"]
    assert set(profiled.values()) == {None}
    command = service("emulators")["command"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--public-host") + 1] == "emulators"
    env_file = Path(command[command.index("--env-file") + 1])
    assert env_file == Path(service("worker")["working_dir"]) / ".env"


def test_credentials_are_secret_files_never_in_commands_or_the_image() -> None:
    """Google's key and the APNs certificate and key are compose secrets."""
    secrets = compose()["secrets"]
    assert set(secrets) == {
        "google_service_account",
        "apns_certificate",
        "apns_private_key",
    }
    assert all(set(spec) == {"file"} for spec in secrets.values())
    assert set(service("worker")["secrets"]) == set(secrets)
    for name, spec in compose()["services"].items():
        text = " ".join(map(str, spec.get("command") or []))
        assert "/run/secrets" not in text, name
        for value in (spec.get("environment") or {}).values():
            assert "PRIVATE KEY" not in str(value), name
    dockerfile = (ROOT / "workers" / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (?:--from=\S+ )?(.+?) \S+$", dockerfile, re.M)
    assert copied == ["pyproject.toml README.md", "pipeline", "workers", "/wheels"]
    assert service("worker")["build"]["dockerfile"] == "workers/Dockerfile"


def readme_compose_section() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Deploying with Docker Compose", 1)[1]
    return section.split("\n## ", 1)[0]


def test_readme_compose_instructions_match_the_file() -> None:
    """Services, profile, variables and secrets README names exist in the file."""
    section = readme_compose_section()
    commands = re.findall(r"^(?:\S+=\S+ )*docker compose .*$", section, re.M)
    assert len(commands) >= 4
    services = compose()["services"]
    named = set()
    for line in commands:
        named |= set(re.findall(r"(?:exec|logs -f|logs|stop) (\w+)", line))
        named |= set(re.findall(r"--scale (\w+)=", line))
        for profile in re.findall(r"--profile (\w+)", line):
            assert any(
                profile in spec.get("profiles", []) for spec in services.values()
            )
    assert named
    assert named <= set(services)
    raw = (ROOT / "compose.yaml").read_text()
    variables = set(re.findall(r"^(\w+)=", section, re.M))
    variables |= set(re.findall(r"\b(WORKER_\w+)\b", section))
    compose_variables = {match[0] for match in VARIABLE.findall(raw)}
    passed_through = {
        key for key, value in service("worker")["environment"].items() if value is None
    }
    for variable in variables:
        assert variable in compose_variables | passed_through, variable
    for secret in re.findall(r"/run/secrets/(\w+)", section):
        assert secret in compose()["secrets"]
    for command in re.findall(r"docker compose exec \w+ (wallet-sync [\w-]+)", section):
        help_text(*command.split())
