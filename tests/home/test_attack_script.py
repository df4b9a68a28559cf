"""scripts/attack_log.py runs every attack of issue 13 and reports each one caught."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_attack_script_catches_every_attack() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "attack_log.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert sum(line.startswith("CAUGHT") for line in lines) == 7
    assert lines[-1] == "every attack caught"
