"""scripts/stage_workload.py, the single stages scripts/arm64_check.sh counts: each stage
works on the frames it says, and a missing argument is one line, not a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from edge.device.faces.model import face_model_problem

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "stage_workload.py"
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def make_clip(path: Path, frames: int) -> None:
    rng = np.random.default_rng(17)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 192, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 256, (192, 320, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode(None))


@pytest.mark.skipif(face_model_problem(True) is not None, reason="face model not installed")
def test_each_stage_works_on_the_frames_it_says(tmp_path: Path) -> None:
    clip, frames = tmp_path / "clip.mp4", tmp_path / "frames.npy"
    make_clip(clip, 12)
    config = tmp_path / "doorbell.toml"
    config.write_text(
        f'[owner]\nrecipients = ["{RECIPIENT}"]\n'
        "[privacy]\npublic_areas = [[[0, 0], [1, 0], [1, 0.3], [0, 0.3]]]\n"
    )
    prepared = run("prepare", "--clip", clip, "--start", 4, "--frames", 5, frames)
    assert prepared.returncode == 0, prepared.stderr
    assert np.load(frames).shape == (5, 192, 320, 3)
    expected = {"base": 0, "decode": 9, "detect": 5, "encode": 5}
    for stage, count in expected.items():
        done = run(stage, "--config", config, "--clip", clip, "--start", 4, frames)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1]) == {"stage": stage, "frames": count}


def test_a_stage_without_its_config_is_one_line(tmp_path: Path) -> None:
    done = run("detect", tmp_path / "frames.npy")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("detect needs --config")
