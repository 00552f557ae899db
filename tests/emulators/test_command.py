"""``python -m pipeline.emulators`` in its own process, as scripts and CI run it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

KEYS = (
    "WALLET_SYNC_GOOGLE_API_URL",
    "WALLET_SYNC_GOOGLE_CREDENTIALS_FILE",
    "WALLET_SYNC_GOOGLE_ISSUER_ID",
    "WALLET_SYNC_APNS_URL",
    "WALLET_SYNC_APNS_CERT_FILE",
    "WALLET_SYNC_APNS_KEY_FILE",
    "WALLET_SYNC_APNS_CA_FILE",
    "WALLET_SYNC_APNS_TOPIC",
)


@pytest.fixture
def awkward_dir(tmp_path: Path) -> Path:
    """A work directory whose name needs shell quoting."""
    folder = tmp_path / "it's a $HOME dir"
    folder.mkdir()
    return folder


@pytest.fixture
def emulators_process(
    awkward_dir: Path,
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    env_file = awkward_dir / "emulators.env"
    command = [
        sys.executable,
        "-m",
        "pipeline.emulators",
        "--google-port",
        "0",
        "--apns-port",
        "0",
        "--env-file",
        str(env_file),
        "--workdir",
        str(awkward_dir / "work"),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process, env_file
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float = 20) -> None:
    """Wait until the emulators wrote their env file, failing fast if they died."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the emulators did not start"
        time.sleep(0.05)


def sourced(env_file: Path) -> dict[str, str]:
    """The variables a POSIX shell gets from sourcing `env_file`."""
    script = '. "$1" && ' + " && ".join(f'printf "%s\\0" "${key}"' for key in KEYS)
    output = subprocess.run(
        ["sh", "-c", script, "sh", str(env_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return dict(zip(KEYS, output.split("\0")[:-1], strict=True))


def test_the_module_writes_a_sourceable_env_file_and_stops_on_sigterm(
    emulators_process: tuple[subprocess.Popen[str], Path], awkward_dir: Path
) -> None:
    """The env file sources in sh, names live emulators, and SIGTERM stops them."""
    process, env_file = emulators_process
    wait_for(env_file, process)
    settings = sourced(env_file)
    health = httpx.get(
        settings["WALLET_SYNC_GOOGLE_API_URL"].removesuffix("/walletobjects/v1")
        + "/_emulator/health",
        timeout=10,
    )
    process.send_signal(signal.SIGTERM)
    exit_code = process.wait(timeout=15)

    assert health.status_code == 200
    assert Path(settings["WALLET_SYNC_APNS_CERT_FILE"]).is_file()
    assert settings["WALLET_SYNC_APNS_CA_FILE"].startswith(str(awkward_dir))
    assert settings["WALLET_SYNC_APNS_TOPIC"] == "pass.com.example.loyalty"
    assert exit_code == 0
