"""The encoder turns BGR frames into self-contained fMP4 segments in memory, with their timing."""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from edge.device.encoder import (
    TIME_BASE,
    EncoderError,
    EncoderSettings,
    H264SegmentEncoder,
    MemoryOutput,
    to_i420,
)

CLIPS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "clips"
CLIP = CLIPS / "visitor_approach.mp4"
WIDTH, HEIGHT = 320, 240


def scene(i: int) -> np.ndarray:
    """A smooth moving picture (gradients and a square), easy to compare after lossy coding."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = (x + 3 * i) % 256
    image[..., 1] = (y * 255 // HEIGHT).astype(np.uint8)
    image[..., 2] = 128
    image[40:90, 20 + 4 * i : 70 + 4 * i] = (20, 200, 240)
    return image


def encode_clip(
    times: list[float], segment_starts: set[int], settings: EncoderSettings | None = None
) -> list[MemoryOutput]:
    encoder = H264SegmentEncoder(settings or EncoderSettings(crf=18))
    outputs: list[MemoryOutput] = []
    encoder.start_clip(times[0])
    for i, t in enumerate(times):
        if i in segment_starts:
            outputs.append(MemoryOutput())
            encoder.start_segment(outputs[-1])
        encoder.encode(scene(i), t)
    encoder.end_clip()
    return outputs


def decode(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data)) as container:
        return list(container.decode(video=0))


def seconds(frame: av.VideoFrame) -> float:
    return float(frame.pts * frame.time_base)


def test_each_segment_is_a_playable_mp4_that_starts_on_a_keyframe() -> None:
    times = [i / 15 for i in range(45)]
    outputs = encode_clip(times, {0, 15, 30})

    assert [o.closed for o in outputs] == [True, True, True]
    for output in outputs:
        frames = decode(output.getvalue())
        assert len(frames) == 15
        assert frames[0].key_frame
        assert (frames[0].width, frames[0].height, frames[0].format.name) == (
            WIDTH,
            HEIGHT,
            "yuv420p",
        )


def test_segments_keep_the_recorded_timing_relative_to_the_clip_start() -> None:
    # Irregular capture: jitter and a gap where frames were dropped before redaction.
    rng = np.random.default_rng(7)
    times = [100.0 + i / 15 + rng.uniform(-0.01, 0.01) for i in range(30)]
    times[20:] = [t + 0.4 for t in times[20:]]
    outputs = encode_clip(times, {0, 12, 24})

    decoded = [seconds(f) for o in outputs for f in decode(o.getvalue())]
    expected = [t - times[0] for t in times]
    assert decoded == pytest.approx(expected, abs=float(TIME_BASE))


def test_decoded_pixels_match_the_input() -> None:
    outputs = encode_clip([i / 15 for i in range(10)], {0})
    frames = decode(outputs[0].getvalue())
    for i, frame in enumerate(frames):
        difference = np.abs(frame.to_ndarray(format="bgr24").astype(int) - scene(i).astype(int))
        assert difference.mean() < 3


@pytest.mark.parametrize(("width", "height"), [(160, 90), (800, 450), (640, 362), (160, 120)])
def test_every_even_frame_size_keeps_its_colours(width: int, height: int) -> None:
    # Heights that are not multiples of 4 once had their colour planes read from the
    # wrong place (PyAV's borrowed yuv420p frames): the picture came out pink and green.
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.dstack([cols * 255 // width, rows * 255 // height, np.full_like(cols, 128)])
    image = image.astype(np.uint8)
    encoder = H264SegmentEncoder(EncoderSettings(crf=18))
    output = MemoryOutput()
    encoder.start_clip(0.0)
    encoder.start_segment(output)
    for i in range(3):
        encoder.encode(image, i / 15)
    encoder.end_clip()
    for frame in decode(output.getvalue()):
        assert (frame.width, frame.height) == (width, height)
        difference = np.abs(frame.to_ndarray(format="bgr24").astype(int) - image.astype(int))
        assert difference.mean() < 3


@pytest.mark.parametrize("tune", ["zerolatency", ""])
def test_frames_reused_by_the_caller_after_encode_are_stored_as_they_were(tune: str) -> None:
    # The codec borrows the caller's planes; with a lookahead (tune "") it holds frames
    # back, so it must have its own copy by the time `encode` returns.
    encoder = H264SegmentEncoder(EncoderSettings(crf=18, tune=tune))
    output = MemoryOutput()
    encoder.start_clip(0.0)
    encoder.start_segment(output)
    planes = np.empty((HEIGHT * 3 // 2, WIDTH), np.uint8)
    for i in range(12):
        planes[...] = to_i420(scene(i))
        encoder.encode(planes, i / 15)
        planes[...] = 0  # the caller reuses its buffer at once
    encoder.end_clip()
    frames = decode(output.getvalue())
    assert len(frames) == 12
    for i, frame in enumerate(frames):
        difference = np.abs(frame.to_ndarray(format="bgr24").astype(int) - scene(i).astype(int))
        assert difference.mean() < 3


PROBE = [
    "ffprobe",
    "-v",
    "error",
    "-print_format",
    "json",
    "-show_format",
    "-show_entries",
    "stream=codec_name,pix_fmt,width,height:frame=key_frame,pts_time",
]


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_ffprobe_reads_each_segment_from_a_pipe() -> None:
    outputs = encode_clip([i / 15 for i in range(30)], {0, 15})

    for n, output in enumerate(outputs):
        probe = subprocess.run(
            [*PROBE, "-"],
            input=output.getvalue(),
            capture_output=True,
            check=True,
        )
        assert probe.stderr == b""
        info = json.loads(probe.stdout)
        stream = info["streams"][0]
        assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
        assert (stream["width"], stream["height"]) == (WIDTH, HEIGHT)
        assert info["format"]["format_name"].startswith("mov,mp4")
        frames = info["frames"]
        assert len(frames) == 15
        assert frames[0]["key_frame"] == 1
        assert float(frames[0]["pts_time"]) == pytest.approx(n * 1.0)


def test_segment_output_is_finished_as_soon_as_the_next_segment_starts() -> None:
    encoder = H264SegmentEncoder()
    first, second = MemoryOutput(), MemoryOutput()
    encoder.start_clip(0.0)
    encoder.start_segment(first)
    for i in range(5):
        encoder.encode(scene(i), i / 15)
    encoder.start_segment(second)

    assert first.closed
    assert len(decode(first.getvalue())) == 5
    encoder.end_clip()
    assert second.closed


def test_segments_stay_separate_when_the_codec_holds_frames_back() -> None:
    # Without zerolatency libx264 keeps a lookahead of frames, like the Pi's encoder
    # keeps a queue; late packets must still land in the segment they belong to.
    settings = EncoderSettings(tune="", crf=18)
    outputs = encode_clip([i / 15 for i in range(40)], {0, 10, 30}, settings)

    assert [len(decode(o.getvalue())) for o in outputs] == [10, 20, 10]
    assert all(decode(o.getvalue())[0].key_frame for o in outputs)


def test_segments_of_a_clip_join_into_one_file_without_reencoding() -> None:
    outputs = encode_clip([i / 15 for i in range(30)], {0, 10, 20})
    joined = io.BytesIO()
    with av.open(joined, "w", format="mp4") as target:
        stream = None
        for output in outputs:
            with av.open(io.BytesIO(output.getvalue())) as source:
                if stream is None:
                    stream = target.add_stream_from_template(source.streams.video[0])
                for packet in source.demux(video=0):
                    if packet.dts is not None:
                        packet.stream = stream
                        target.mux(packet)

    frames = decode(joined.getvalue())
    assert [seconds(f) for f in frames] == pytest.approx([i / 15 for i in range(30)], abs=1e-4)


def test_each_clip_counts_time_from_its_own_start() -> None:
    encoder = H264SegmentEncoder()
    clips = []
    for start in (5.0, 50.0):
        output = MemoryOutput()
        encoder.start_clip(start)
        encoder.start_segment(output)
        for i in range(3):
            encoder.encode(scene(i), start + i / 10)
        encoder.end_clip()
        clips.append([seconds(f) for f in decode(output.getvalue())])
    assert clips == [pytest.approx([0.0, 0.1, 0.2])] * 2


@pytest.mark.skipif(os.path.exists("/dev/video11"), reason="a V4L2 M2M encoder is present")
def test_auto_codec_falls_back_to_libx264_without_the_pi_encoder() -> None:
    encoder = H264SegmentEncoder(EncoderSettings(codec="auto"))
    encoder.start_clip(0.0)
    encoder.start_segment(MemoryOutput())
    encoder.encode(scene(0), 0.0)
    encoder.end_clip()
    assert encoder.codec_name == "libx264"


def test_frames_before_a_segment_or_of_odd_or_changing_size_are_refused() -> None:
    encoder = H264SegmentEncoder()
    with pytest.raises(EncoderError):
        encoder.encode(scene(0), 0.0)
    encoder.start_clip(0.0)
    with pytest.raises(EncoderError):
        encoder.encode(scene(0), 0.0)
    encoder.start_segment(MemoryOutput())
    with pytest.raises(EncoderError):
        encoder.encode(np.zeros((241, 320, 3), np.uint8), 0.0)
    encoder.encode(scene(0), 0.0)
    with pytest.raises(EncoderError):
        encoder.encode(np.zeros((120, 160, 3), np.uint8), 0.1)
    encoder.end_clip()


def test_encoding_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    encode_clip([i / 15 for i in range(20)], {0, 10})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not CLIP.exists(), reason="shared dev clips absent")
def test_a_real_dev_clip_survives_segmenting_at_high_quality() -> None:
    with av.open(str(CLIP)) as source:
        decoded = itertools.islice(source.decode(video=0), 20)
        originals = [f.to_ndarray(format="bgr24") for f in decoded]
    encoder = H264SegmentEncoder(EncoderSettings(crf=18, preset="ultrafast"))
    outputs = [MemoryOutput(), MemoryOutput()]
    encoder.start_clip(0.0)
    for i, image in enumerate(originals):
        if i in (0, 10):
            encoder.start_segment(outputs[i // 10])
        encoder.encode(image, i / 15)
    encoder.end_clip()

    decoded = [f.to_ndarray(format="bgr24") for o in outputs for f in decode(o.getvalue())]
    assert len(decoded) == 20
    for original, copy in zip(originals, decoded, strict=True):
        mse = np.mean((original.astype(float) - copy.astype(float)) ** 2)
        assert 10 * np.log10(255**2 / mse) > 32


class FullDisk:
    """An Output that fails like a vault writer on a full disk, after its first write."""

    def __init__(self) -> None:
        self.writes = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.writes > 1:
            raise OSError(28, "No space left on device")

    def close(self) -> None:
        self.closed = True


def test_a_failing_output_surfaces_its_error_and_the_next_clip_still_works() -> None:
    encoder = H264SegmentEncoder()
    broken = FullDisk()
    encoder.start_clip(0.0)
    encoder.start_segment(broken)
    with pytest.raises(OSError, match="No space left"):
        for i in range(5):
            encoder.encode(scene(i), i / 15)
    encoder.end_clip()
    assert broken.closed

    output = MemoryOutput()
    encoder.start_clip(10.0)
    encoder.start_segment(output)
    encoder.encode(scene(0), 10.0)
    encoder.end_clip()
    assert len(decode(output.getvalue())) == 1
