"""Damaged camera input: replays of truncated, garbage, empty and size-changing video end
with a clear error or record what is readable, and every frame stored is redacted."""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from daemon_support import Device, make_device

from edge.cli import main
from edge.core.store.reading import read_clips, read_segments, segment_file
from edge.core.vault import decrypt_bytes
from edge.device.demo_scene import scene_frames
from edge.device.faces.centerface import CenterFace
from edge.device.faces.model import ModelError

# The privacy mask covers the top 30 % (the street); "fill" makes it one flat colour.
STREET = 0.3


@pytest.fixture(scope="module")
def scene() -> list[np.ndarray]:
    return [frame.image for frame in scene_frames(13.0)]


def write_ts(path: Path, images: list[np.ndarray], size: tuple[int, int]) -> bytes:
    """H.264 in MPEG-TS (a stream format: it can be cut or joined anywhere)."""
    with av.open(str(path), "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=Fraction(15))
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for image in images:
            frame = av.VideoFrame.from_ndarray(cv2.resize(image, size), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path.read_bytes()


def filled_device(root: Path) -> Device:
    device = make_device(root)
    text = device.config_path.read_text().replace("[privacy]\n", '[privacy]\nstyle = "fill"\n')
    device.config_path.write_text(text)
    return device


def replay(video: Path, device: Device, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["replay", str(video), "--config", str(device.config_path)])
    captured = capsys.readouterr()
    return code, captured.out if code == 0 else captured.err


def stored_frames(device: Device) -> list[np.ndarray]:
    """Every frame of every stored segment, decrypted and decoded in memory."""
    frames = []
    for clip in read_clips(device.state):
        for segment in read_segments(device.state, clip.id):
            data = segment_file(device.state, segment).read_bytes()
            plain = decrypt_bytes([device.owner.identity], data)
            with av.open(io.BytesIO(plain), format="mp4") as container:
                frames += [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    return frames


def assert_all_redacted(frames: list[np.ndarray]) -> None:
    assert frames
    for image in frames:
        street = image[: int(image.shape[0] * (STREET - 0.02))]
        assert street.std(axis=(0, 1)).max() < 4.0, "the privacy mask is not on this frame"
    try:
        detector = CenterFace.load()
    except ModelError:
        return  # the face model is not installed: the mask check above still ran
    assert all(detector.detect(image, 0.5) == [] for image in frames[::4])


@pytest.mark.parametrize("damage", ["empty", "garbage", "cut before its index"])
def test_unreadable_video_is_a_clear_error_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scene: list[np.ndarray], damage: str
) -> None:
    device = make_device(tmp_path)
    video = tmp_path / "camera.mp4"
    if damage == "empty":
        video.write_bytes(b"")
    elif damage == "garbage":
        video.write_bytes(np.random.default_rng(1).bytes(300_000))
    else:
        with av.open(str(video), "w") as container:  # MP4: its index comes last
            stream = container.add_stream("libx264", rate=Fraction(15))
            stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
            for image in scene[:30]:
                frame = av.VideoFrame.from_ndarray(cv2.resize(image, (320, 180)), "bgr24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        video.write_bytes(video.read_bytes()[:-2000])

    code, err = replay(video, device, capsys)

    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("doorbell: error:") and "camera.mp4" in last
    assert not list(device.state.rglob("*.mp4.age*"))


def test_video_cut_mid_stream_records_what_was_readable_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scene: list[np.ndarray]
) -> None:
    device = filled_device(tmp_path)
    data = write_ts(tmp_path / "whole.ts", scene[:165], (640, 360))
    video = tmp_path / "cut.ts"
    video.write_bytes(data[: len(data) * 3 // 4 + 101])  # mid-packet

    code, out = replay(video, device, capsys)

    assert code == 0
    summary = json.loads(out)
    assert 100 < summary["frames_read"] < 165
    assert [clip["status"] for clip in summary["clips"]] == ["complete"]
    assert_all_redacted(stored_frames(device))


def test_frame_size_changing_mid_stream_closes_the_clip_and_redacts_both_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scene: list[np.ndarray]
) -> None:
    device = filled_device(tmp_path)
    video = tmp_path / "two-sizes.ts"
    # Two recordings joined byte for byte: 1280x720, then 640x360 from 8 s on.
    video.write_bytes(
        write_ts(tmp_path / "a.ts", scene[:120], (1280, 720))
        + write_ts(tmp_path / "b.ts", scene[120:], (640, 360))
    )

    code, out = replay(video, device, capsys)

    assert code == 0
    summary = json.loads(out)
    assert summary["frames_read"] == len(scene)
    assert len(summary["clips"]) == 2
    frames = stored_frames(device)
    assert {image.shape[:2] for image in frames} == {(720, 1280), (360, 640)}
    assert_all_redacted(frames)
