"""Short, seeded runs of the fuzzers in scripts/ (the ten-minute runs are in
docs/RELIABILITY.md): the age reader, the MQTT command router and the config loader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
SEED = "20261128"


def run_fuzzer(name: str, seconds: float) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / name), "--seconds", str(seconds), "--seed", SEED],
        capture_output=True,
        text=True,
        timeout=seconds * 10 + 60,
        # Python puts the script's folder on sys.path, not the checkout's root: without this
        # the fuzzers would import whichever `edge` is installed, not the one under test.
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


def test_mutated_age_files_raise_only_vault_errors_and_release_no_unauthenticated_byte() -> None:
    out = run_fuzzer("fuzz_vault.py", 6)
    assert "no failure" in out and "PayloadError" in out and "HeaderError" in out


def test_mqtt_commands_and_config_files_from_outside_cannot_crash_or_unpause() -> None:
    out = run_fuzzer("fuzz_inbound.py", 8)
    assert "no failure" in out and "never off" in out and "ConfigError" in out
