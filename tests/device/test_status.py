"""`doorbell status` on the device, against a real daemon replaying at camera pace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_support import make_device, write_scene_video

from edge.cli import main
from edge.device.privacy_state import save_privacy_mode


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scene_video(tmp_path_factory.mktemp("scene") / "porch.mp4")


def status(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["status", "--json", "-c", str(config)])
    return code, json.loads(capsys.readouterr().out)


def test_status_follows_the_daemon_and_its_last_clip(tmp_path, scene_video, capsys) -> None:
    device = make_device(tmp_path)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "edge", "replay", str(scene_video), "--realtime",
         "-c", str(device.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (device.state / "status.json").exists():
            assert daemon.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        code, running = status(device.config_path, capsys)
        assert code == 0 and running["running"] is True
        assert running["recorder"] in ("idle", "recording", "cooldown")
        assert running["privacy_mode"] is False and running["recording_stopped"] is None
        while not list(device.state.glob("clips/*/*/*/*/*.mp4.age")):
            assert daemon.poll() is None and time.monotonic() < deadline + 30
            time.sleep(0.2)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    finally:
        if daemon.poll() is None:
            os.kill(daemon.pid, signal.SIGKILL)
    code, stopped = status(device.config_path, capsys)
    assert code == 1 and stopped["running"] is False and stopped["last_seen"]
    assert stopped["last_clip"] is not None and stopped["last_clip"]["status"] == "complete"
    assert stopped["disk"]["clips_bytes"] > 0


def test_status_without_a_daemon_reads_the_saved_privacy_mode(tmp_path, capsys) -> None:
    device = make_device(tmp_path)
    device.state.mkdir(parents=True)
    save_privacy_mode(device.state, True, "mqtt")
    code, report = status(device.config_path, capsys)
    assert code == 1
    assert report["running"] is False and report["last_seen"] is None
    assert report["privacy_mode"] is True and report["last_clip"] is None
    assert main(["status", "-c", str(device.config_path)]) == 1
    assert "NOT RUNNING (never seen)" in capsys.readouterr().out
