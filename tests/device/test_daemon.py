"""The daemon end to end: replay a scene, store only ciphertext, export a playable MP4."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pytest
from daemon_support import make_device, write_scene_video

from edge.cli import main
from edge.core.store.reading import read_clips, read_segments, segment_file
from edge.device.daemon.daemon import Daemon, DaemonError
from edge.device.demo_scene import scene_frames
from edge.device.faces.centerface import CenterFace
from edge.device.faces.model import ModelError


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scene_video(tmp_path_factory.mktemp("scene") / "porch.mp4")


def replay(capsys: pytest.CaptureFixture, video: Path, config: Path, *extra: str) -> dict:
    assert main(["replay", str(video), "--config", str(config), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def test_replay_records_the_visitor_with_pre_roll(tmp_path, capsys, scene_video) -> None:
    device = make_device(tmp_path)
    summary = replay(capsys, scene_video, device.config_path)
    assert summary["frames_read"] == summary["frames_processed"] == 210
    assert summary["frames_dropped"] == 0
    (clip,) = summary["clips"]
    # The visitor enters the walkway at 4 s; the clip starts before, thanks to the pre-roll.
    assert 1.5 <= clip["start_offset_s"] <= 4.0
    assert clip["start_offset_s"] + clip["duration_s"] >= 12.5
    assert [c.id for c in read_clips(device.state)] == [clip["id"]]


def test_exported_clip_is_playable_keeps_timing_and_shows_no_face(
    tmp_path, capsys, scene_video
) -> None:
    device = make_device(tmp_path)
    (clip,) = replay(capsys, scene_video, device.config_path)["clips"]
    out = tmp_path / "export.mp4"
    code = main(
        [
            "export",
            clip["id"],
            "--identity",
            str(device.owner_key_path),
            "--out",
            str(out),
            "--config",
            str(device.config_path),
        ]
    )
    assert code == 0
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=nb_frames,duration,start_time",
            "-of",
            "json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stderr == ""
    stream = json.loads(probe.stdout)["streams"][0]
    assert float(stream["start_time"]) == 0.0
    assert abs(float(stream["duration"]) - clip["duration_s"]) < 0.1
    frames = decoded_frames(out)
    assert len(frames) == round(clip["duration_s"] * 15)
    try:
        detector = CenterFace.load()
    except ModelError as exc:
        pytest.skip(f"face model not installed: {exc}")
    assert all(detector.detect(frame, 0.5) == [] for frame in frames[::3])


def test_nothing_but_ciphertext_and_the_index_reaches_disk(tmp_path, monkeypatch) -> None:
    device = make_device(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)
    summary = Daemon(device.config, frames=scene_frames(10.0)).run()
    assert summary.clips
    allowed_names = {
        "index.sqlite",
        "index.sqlite-wal",
        "index.sqlite-shm",
        "ledger.jsonl",
        "ledger.checkpoint",
        "ledger.lock",
        "device.key",
        "device.pub",
        "status.json",  # fps, counters and the recorder's state for `doorbell status`
    }
    status = json.loads((device.state / "status.json").read_text())
    assert set(status) == {
        "time", "pid", "source", "recorder", "fps", "frames_dropped",
        "fail_closed_frames", "privacy_mode", "recording_stopped",
    }  # fmt: skip
    for path in device.state.rglob("*"):
        if path.is_file():
            assert path.name.endswith(".mp4.age") or path.name in allowed_names, path
    assert list(scratch.iterdir()) == []


def test_export_reports_a_missing_segment_and_exports_the_rest(
    tmp_path, capsys, scene_video
) -> None:
    device = make_device(tmp_path)
    (clip,) = replay(capsys, scene_video, device.config_path)["clips"]
    segments = read_segments(device.state, clip["id"])
    assert len(segments) >= 3
    segment_file(device.state, segments[1]).unlink()
    out = tmp_path / "export.mp4"
    code = main(
        [
            "export",
            clip["id"],
            "-i",
            str(device.owner_key_path),
            "--out",
            str(out),
            "--config",
            str(device.config_path),
        ]
    )
    assert code == 2
    assert "segment 1" in capsys.readouterr().err
    assert len(decoded_frames(out)) == round(clip["duration_s"] * 15) - 30


def test_export_with_a_key_that_is_not_the_owner_is_refused(tmp_path, capsys, scene_video):
    device = make_device(tmp_path)
    (clip,) = replay(capsys, scene_video, device.config_path)["clips"]
    (tmp_path / "other").mkdir()
    stranger = make_device(tmp_path / "other")
    out = tmp_path / "export.mp4"
    code = main(
        [
            "export",
            clip["id"],
            "-i",
            str(stranger.owner_key_path),
            "--out",
            str(out),
            "--config",
            str(device.config_path),
        ]
    )
    assert code == 1
    assert not out.exists()


def test_replay_without_an_owner_recipient_is_a_clear_error(tmp_path, capsys, scene_video):
    config = tmp_path / "doorbell.toml"
    config.write_text(f'[storage]\npath = "{tmp_path / "state"}"\n')
    assert main(["replay", str(scene_video), "--config", str(config)]) == 1
    assert "owner.recipients is empty" in capsys.readouterr().err


def test_replay_of_a_file_that_is_not_a_video_is_a_clear_error(tmp_path, capsys):
    device = make_device(tmp_path)
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video at all" * 100)
    assert main(["replay", str(bogus), "--config", str(device.config_path)]) == 1
    assert "bogus.mp4" in capsys.readouterr().err


def test_privacy_mode_stops_recording(tmp_path) -> None:
    device = make_device(tmp_path)

    def frames_with_privacy_on():
        for frame in scene_frames(14.0):
            if frame.index == 1:
                daemon.set_privacy_mode(True, "test")
            yield frame

    daemon = Daemon(device.config, frames=frames_with_privacy_on())
    summary = daemon.run()
    assert summary.clips == []
    assert summary.stats.frames_paused > 150


def test_privacy_mode_survives_a_restart(tmp_path) -> None:
    device = make_device(tmp_path)

    def frames_with_privacy_on():
        for frame in scene_frames(3.0):
            if frame.index == 1:
                first.set_privacy_mode(True, "mqtt")
            yield frame

    first = Daemon(device.config, frames=frames_with_privacy_on())
    first.run()
    # A watchdog restart, Restart=on-failure or a power cut: a new daemon, same state.
    summary = Daemon(device.config, frames=scene_frames(14.0)).run()
    assert summary.clips == []
    assert summary.stats.frames_paused == summary.stats.frames_read


def test_privacy_mode_switched_off_stays_off_after_a_restart(tmp_path) -> None:
    device = make_device(tmp_path)
    daemon = Daemon(device.config, frames=scene_frames(1.0))
    daemon.run()
    daemon.set_privacy_mode(True, "mqtt")
    daemon.set_privacy_mode(False, "local")
    summary = Daemon(device.config, frames=scene_frames(14.0)).run()
    assert len(summary.clips) == 1


def test_an_unreadable_privacy_file_keeps_privacy_on(tmp_path) -> None:
    device = make_device(tmp_path)
    device.state.mkdir(parents=True)
    (device.state / "privacy.json").write_text('{"on": "maybe"')
    summary = Daemon(device.config, frames=scene_frames(14.0)).run()
    assert summary.clips == []


def test_run_with_a_file_as_camera_paces_it_and_stamps_clips_with_the_wall_clock(
    tmp_path, scene_video
) -> None:
    device = make_device(tmp_path, f'[camera]\nsource = "file:{scene_video}"\n')
    before = time.time()
    summary = Daemon(device.config).run()  # `doorbell run`, not a replay
    took = time.time() - before
    assert summary.stats.frames_read == 210
    # Read unpaced, most frames were dropped (233 of 330); paced, only what a loaded
    # machine cannot keep up with.
    assert summary.stats.frames_dropped <= summary.stats.frames_read // 4
    assert took >= 13.0  # 14 s of video at its own pace, not as fast as it decodes
    (clip,) = read_clips(device.state)
    assert before <= clip.started_at <= before + 15


def test_run_with_a_missing_file_source_says_so_in_one_line(tmp_path) -> None:
    missing = tmp_path / "nope.mp4"
    device = make_device(tmp_path, f'[camera]\nsource = "file:{missing}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "edge", "run", "--config", str(device.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if "doorbell: error:" in line]
    assert error.count(str(missing)) == 1


def test_sigterm_finishes_the_clip_in_progress_and_exits_0(tmp_path, scene_video) -> None:
    device = make_device(tmp_path)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge",
            "replay",
            str(scene_video),
            "--realtime",
            "--config",
            str(device.config_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(device.state.glob("clips/*/*/*/*/*.mp4.age")):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
    assert process.returncode == 0, err
    (clip,) = json.loads(out)["clips"]
    assert clip["status"] == "complete"
    assert [c.status for c in read_clips(device.state)] == ["complete"]
    assert not list(device.state.rglob("*.partial"))


def test_daemon_refuses_a_config_without_recipients(tmp_path) -> None:
    device = make_device(tmp_path)
    config = device.config.model_copy(
        update={"owner": device.config.owner.model_copy(update={"recipients": []})}
    )
    with pytest.raises(DaemonError, match=r"owner\.recipients is empty"):
        Daemon(config)
