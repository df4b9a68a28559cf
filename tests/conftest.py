"""Shared fixtures: real mosquitto brokers on 127.0.0.1 (plain, and TLS + password), and a
small tmpfs to fill up."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mosquitto import MOSQUITTO, Mosquitto, TlsFiles, make_tls_files

BROKER_USER = "doorbell"
BROKER_PASSWORD = "correct horse battery staple"


def _require_mosquitto() -> None:
    if not shutil.which(MOSQUITTO):
        pytest.skip("mosquitto is not installed (scripts/install.sh installs it)")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A plain, anonymous broker on a free port; stopped by PID afterwards."""
    _require_mosquitto()
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA made for this test run and a server certificate for localhost signed by it."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mosquitto_tls(tmp_path: Path, tls_files: TlsFiles) -> Iterator[Mosquitto]:
    """A TLS-only broker that requires BROKER_USER / BROKER_PASSWORD."""
    _require_mosquitto()
    broker = Mosquitto(tmp_path / "broker-tls", tls=tls_files, users={BROKER_USER: BROKER_PASSWORD})
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root); skipped where mounting is not permitted."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=True)
