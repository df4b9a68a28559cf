"""`doorbell demo`, the README's one command for a first look, run as a user runs it."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", "demo", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def default_run() -> subprocess.CompletedProcess[str]:
    return demo()


def test_the_demo_records_exports_and_verifies(default_run) -> None:
    assert default_run.returncode == 0, default_run.stderr
    out = default_run.stdout
    assert "Traceback" not in default_run.stderr
    assert re.search(r"^   ok: \d+ entries$", out, re.M)
    assert "thumbnail" not in out and "jpeg" not in out.lower()


def test_without_dir_it_says_where_its_files_are_and_how_to_remove_them(default_run) -> None:
    match = re.search(r"^Remove them when done: rm -r (\S+)$", default_run.stdout, re.M)
    assert match, default_run.stdout
    folder = Path(match.group(1))
    try:
        export = folder / "export.mp4"
        assert export.read_bytes()[4:8] == b"ftyp"
        assert stat.S_IMODE(export.stat().st_mode) == 0o600
        assert list((folder / "state").rglob("*.mp4.age"))
        assert not [p for p in (folder / "state").rglob("*") if p.suffix == ".mp4"]
    finally:
        subprocess.run(["rm", "-r", str(folder)], check=False)


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    result = demo("--dir", str(tmp_path))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"doorbell: error: {tmp_path} is not empty; give an empty or new --dir"
    )
    assert (tmp_path / "precious.txt").read_text() == "mine"
