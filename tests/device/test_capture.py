"""Capture sources yield timed frames, and a lost source is reopened with back-off, not fatal.

The failures here are real: a device that does not exist, a file cut short mid-stream,
an OpenCV capture whose reads stop succeeding. The clips they read are synthetic test
inputs written to pytest's tmp_path.
"""

from __future__ import annotations

import itertools
import logging
import struct
import time
from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from edge.device.capture import (
    ReopeningSource,
    SourceGap,
    SourceSpec,
    SourceUnavailable,
    open_source,
    parse_source_spec,
)
from edge.device.capture.file import FileSource
from edge.device.capture.videocapture import VideoCaptureSource

CLIPS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "clips"
WIDTH, HEIGHT = 160, 120


def picture(i: int) -> np.ndarray:
    """Frame i of a synthetic clip shows i in binary as 8 black or white stripes."""
    stripes = [255 if i >> bit & 1 else 0 for bit in range(8)]
    row = np.repeat(np.array(stripes, np.uint8), WIDTH // 8)
    return np.ascontiguousarray(np.broadcast_to(row[None, :, None], (HEIGHT, WIDTH, 3)))


def which_frame(image: np.ndarray) -> int:
    centres = image[:, WIDTH // 16 :: WIDTH // 8].mean(axis=(0, 2))
    return sum(1 << bit for bit, level in enumerate(centres) if level > 128)


def write_clip(path: Path, times: list[float], movflags: str = "") -> Path:
    """An H.264 MP4 whose frame i is shown at times[i] seconds (keyframe every 5 frames)."""
    time_base = Fraction(1, 1000)
    options = {"movflags": movflags} if movflags else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.options = {"g": "5", "bf": "0"}
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(picture(i), format="bgr24")
            frame.pts, frame.time_base = round(t * 1000), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def cut_inside_fragment(clip: Path, fragment: int) -> bytes:
    """The bytes of a fragmented MP4 up to the middle of its n-th media box: a torn write."""
    data = clip.read_bytes()
    offset, media = 0, []
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"mdat":
            media.append(offset + size // 2)
        offset += size
    return data[: media[fragment]]


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("picamera2", SourceSpec("picamera2", "")),
        ("v4l2:/dev/video0", SourceSpec("v4l2", "/dev/video0")),
        ("rtsp://cam.local:554/stream1", SourceSpec("rtsp", "rtsp://cam.local:554/stream1")),
        ("file:/tmp/clip.mp4", SourceSpec("file", "/tmp/clip.mp4")),
        ("file:relative/clip.mp4", SourceSpec("file", "relative/clip.mp4")),
    ],
)
def test_source_specs_are_parsed(spec: str, parsed: SourceSpec) -> None:
    assert parse_source_spec(spec) == parsed


@pytest.mark.parametrize(
    "spec", ["", "usb", "v4l2:", "v4l2:/tmp/x", "rtsp://", "file:", "/dev/video0"]
)
def test_malformed_specs_name_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError, match="v4l2:/dev/videoN"):
        parse_source_spec(spec)


def test_file_frames_are_timed_by_the_files_timestamps(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.15, 0.5, 0.55, 1.25]
    clip = write_clip(tmp_path / "vfr.mp4", times)
    source = open_source(f"file:{clip}")
    frames = list(source)

    assert [f.t for f in frames] == pytest.approx(times, abs=1e-3)
    assert [f.index for f in frames] == list(range(len(times)))
    assert [which_frame(f.image) for f in frames] == list(range(len(times)))
    assert frames[0].image.shape == (HEIGHT, WIDTH, 3)
    assert source.stats.frames == len(times)


def colour_clip(path: Path, colorspace: str | None) -> Path:
    """A short colourful H.264 clip, its colour matrix tagged `colorspace` or untagged."""
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8), (0, 0), 3)
    image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if colorspace:
            stream.options = {"colorspace": colorspace, "color_range": "tv"}
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(image, "bgr24")
            frame.pts = i
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("colorspace", [None, "bt470bg", "bt709"])
def test_file_frames_have_the_colours_swscale_gives(tmp_path: Path, colorspace: str | None) -> None:
    clip = colour_clip(tmp_path / "colour.mp4", colorspace)
    with av.open(str(clip)) as container:
        expected = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    source = FileSource(clip)
    got = [f.image for f in source]
    source.close()
    assert len(got) == len(expected) == 3
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        # OpenCV's I420 conversion and swscale round (and upsample chroma) differently.
        assert int(np.abs(a.astype(int) - b).max()) <= 12
        assert float(np.abs(a.astype(int) - b).mean()) < 2.0


@pytest.mark.parametrize("colorspace", [None, "bt470bg", "bt709"])
def test_file_frames_bring_the_gray_of_their_pixels_for_motion(
    tmp_path: Path, colorspace: str | None
) -> None:
    source = FileSource(colour_clip(tmp_path / "colour.mp4", colorspace))
    frames = list(source)
    source.close()
    for frame in frames:
        if colorspace == "bt709":  # not what the luma shortcut assumes: motion makes gray
            assert frame.lores is None
            continue
        assert frame.lores is not None and frame.lores.shape == (HEIGHT, WIDTH)
        gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY).astype(int)
        # The same gray but where a colour was clipped converting to BGR.
        assert float(np.abs(frame.lores - gray).mean()) < 1.0
        assert int(np.abs(frame.lores - gray).max()) <= 10


@pytest.mark.skipif(not (CLIPS / "lights.mp4").exists(), reason="shared dev clips absent")
def test_a_dev_clip_replays_with_its_15_fps_timing() -> None:
    source = FileSource(CLIPS / "lights.mp4")
    times = [f.t for f in source]
    source.close()
    assert len(times) == 240
    assert times == pytest.approx([i / 15 for i in range(240)], abs=1e-3)


def test_realtime_replay_takes_as_long_as_the_clip(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", [i / 20 for i in range(10)])
    started = time.monotonic()
    assert len(list(open_source(f"file:{clip}", realtime=True))) == 10
    assert time.monotonic() - started >= 0.4


def test_missing_device_is_retried_with_doubling_backoff_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gaps: list[SourceGap] = []
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 6:
            source.close()

    opener = partial(VideoCaptureSource, "/dev/video-missing", cv2.CAP_V4L2)
    source = ReopeningSource(
        opener, "v4l2:/dev/video-missing", initial_backoff_s=0.5, max_backoff_s=4.0,
        on_gap=gaps.append, sleep=sleep,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert list(source) == []

    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(gaps) == 1
    assert gaps[0].ended_at is None
    assert "cannot open /dev/video-missing" in gaps[0].reason
    assert (source.stats.gaps, source.stats.reopen_attempts) == (1, 6)
    assert "v4l2:/dev/video-missing lost" in caplog.text


def test_missing_v4l2_device_is_not_fatal_through_open_source() -> None:
    gaps: list[SourceGap] = []

    def on_gap(gap: SourceGap) -> None:
        gaps.append(gap)
        source.close()

    source = open_source("v4l2:/dev/video99", initial_backoff_s=0.001, on_gap=on_gap)
    assert list(source) == []
    assert len(gaps) == 1


def test_file_that_appears_later_starts_flowing_and_the_gap_closes(tmp_path: Path) -> None:
    clip = tmp_path / "late.mp4"
    gaps: list[SourceGap] = []

    def on_gap(gap: SourceGap) -> None:
        gaps.append(gap)
        if gap.ended_at is None:
            write_clip(clip, [i / 15 for i in range(5)])

    source = open_source(f"file:{clip}", initial_backoff_s=0.001, on_gap=on_gap)
    assert [f.index for f in source] == [0, 1, 2, 3, 4]
    assert [g.ended_at is None for g in gaps] == [True, False]
    assert gaps[1].ended_at >= gaps[1].started_at
    assert gaps[1].attempts == 1


def test_file_cut_short_mid_stream_resumes_after_the_last_frame_once_replaced(
    tmp_path: Path,
) -> None:
    times = [i / 15 for i in range(30)]
    whole = write_clip(tmp_path / "whole.mp4", times, movflags="frag_keyframe+empty_moov")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(cut_inside_fragment(whole, 2))
    gaps: list[SourceGap] = []

    def on_gap(gap: SourceGap) -> None:
        gaps.append(gap)
        if gap.ended_at is None:
            clip.write_bytes(whole.read_bytes())

    source = open_source(f"file:{clip}", initial_backoff_s=0.001, on_gap=on_gap)
    frames = list(source)

    assert [f.t for f in frames] == pytest.approx(times, abs=1e-3)
    assert [f.index for f in frames] == list(range(30))
    # The frame torn by the cut may come out concealed (a copy of its predecessor).
    wrong = [i for i, f in enumerate(frames) if which_frame(f.image) != i]
    assert len(wrong) <= 1
    assert len(gaps) == 2


def test_file_that_stays_broken_gives_up_without_repeating_frames(tmp_path: Path) -> None:
    times = [i / 15 for i in range(30)]
    whole = write_clip(tmp_path / "whole.mp4", times, movflags="frag_keyframe+empty_moov")
    clip = tmp_path / "cut.mp4"
    clip.write_bytes(cut_inside_fragment(whole, 2))
    source = open_source(f"file:{clip}", initial_backoff_s=0.001)

    delivered = []
    with pytest.raises(SourceUnavailable, match="gave up after 3 attempts"):
        for frame in source:
            delivered.append(frame.t)
    assert 0 < len(delivered) < 30
    assert delivered == pytest.approx(times[: len(delivered)], abs=1e-3)


def test_capture_whose_reads_stop_is_reopened_and_frames_continue(tmp_path: Path) -> None:
    # An OpenCV capture over a 10-frame file: at its end read() fails, as when a camera
    # is unplugged, and the source is opened again from the start.
    clip = write_clip(tmp_path / "camera.mp4", [i / 15 for i in range(10)])
    gaps: list[SourceGap] = []
    opener = partial(VideoCaptureSource, str(clip), cv2.CAP_FFMPEG)
    source = ReopeningSource(opener, "fake-camera", initial_backoff_s=0.001, on_gap=gaps.append)

    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == 25:
            source.close()

    assert [f.index for f in frames] == list(range(25))
    assert all(b.t > a.t for a, b in itertools.pairwise(frames))
    assert [which_frame(f.image) for f in frames] == [i % 10 for i in range(25)]
    assert [g.ended_at is None for g in gaps] == [True, False, True, False]
    assert (source.stats.gaps, source.stats.reopen_attempts) == (2, 2)


def test_upside_down_file_or_usb_camera_is_turned_in_software(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", [i / 15 for i in range(3)])
    upright = list(open_source(f"file:{clip}"))
    turned = list(open_source(f"file:{clip}", rotation=180))

    assert [f.t for f in turned] == [f.t for f in upright]
    for a, b in zip(upright, turned, strict=True):
        assert np.array_equal(b.image, a.image[::-1, ::-1])
        assert b.image.flags.c_contiguous


@pytest.mark.parametrize("spec", ["v4l2:/dev/video0", "rtsp://cam.local/stream", "file:x.mp4"])
def test_camera_profile_with_a_source_other_than_the_pi_camera_is_refused(
    spec: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"camera\.profile .* only for the picamera2 source"):
        open_source(spec, profile=tmp_path / "cm3.toml")


def test_rotation_other_than_0_or_180_is_refused() -> None:
    with pytest.raises(ValueError, match=r"camera\.rotation must be 0 or 180"):
        open_source("v4l2:/dev/video0", rotation=90)
