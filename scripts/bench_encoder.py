"""Measure the in-memory H.264 segment encoder: frames per second and CPU per frame.

Encodes the same frames (decoded once into RAM from a dev clip, or synthetic when the
clip is absent) into 2-second fMP4 segments held in memory, with libx264 on one thread
and on the default thread count, and compares keeping one codec per clip (what
`H264SegmentEncoder` does) with reopening codec and muxer for every segment. Nothing is
written to disk. Run on an idle machine: shared cores make the numbers noisy, so each
case is repeated and the best run is reported next to the median.

    python scripts/bench_encoder.py [--clip PATH] [--frames 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from edge.device.encoder import EncoderSettings, H264SegmentEncoder, MemoryOutput

DEFAULT_CLIP = (
    Path(__file__).resolve().parents[2] / "shared" / "testdata" / "clips" / "visitor_approach.mp4"
)
FPS = 15.0
SEGMENT_FRAMES = 30  # 2 s segments at 15 fps, the recorder's default


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    bytes_out: int


def load_frames(clip: Path, count: int) -> tuple[list[np.ndarray], str]:
    if clip.exists():
        with av.open(str(clip)) as container:
            decoded = itertools.islice(container.decode(video=0), count)
            frames = [f.to_ndarray(format="bgr24") for f in decoded]
        # A clip shorter than `count` is played again from the start.
        return [frames[i % len(frames)] for i in range(count)], str(clip)
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), np.uint8), (0, 0), 3)
    return [np.roll(base, 6 * i, axis=1) for i in range(count)], "synthetic 1280x720"


def encode(frames: list[np.ndarray], settings: EncoderSettings, reopen_per_segment: bool) -> Run:
    encoder = H264SegmentEncoder(settings)
    outputs: list[MemoryOutput] = []
    wall, cpu = time.perf_counter(), time.process_time()
    encoder.start_clip(0.0)
    for i, image in enumerate(frames):
        if i % SEGMENT_FRAMES == 0:
            if reopen_per_segment and i:
                encoder.end_clip()
                encoder.start_clip(0.0)
            outputs.append(MemoryOutput())
            encoder.start_segment(outputs[-1])
        encoder.encode(image, i / FPS)
    encoder.end_clip()
    return Run(
        time.perf_counter() - wall,
        time.process_time() - cpu,
        sum(len(o.getvalue()) for o in outputs),
    )


def conversion_ms(frames: list[np.ndarray]) -> dict[str, float]:
    """Milliseconds per frame to turn BGR into yuv420p: OpenCV (used) vs libswscale via PyAV."""
    sample = frames[:50]
    started = time.perf_counter()
    for image in sample:
        av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), "yuv420p")
    opencv = time.perf_counter() - started
    started = time.perf_counter()
    for image in sample:
        av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    swscale = time.perf_counter() - started
    return {"opencv": 1000 * opencv / len(sample), "swscale": 1000 * swscale / len(sample)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    frames, origin = load_frames(args.clip, args.frames)
    height, width = frames[0].shape[:2]
    print(f"{len(frames)} frames {width}x{height} from {origin}; segments of {SEGMENT_FRAMES}")
    print(f"cpu cores visible: {len(os.sched_getaffinity(0))}")
    conversion = conversion_ms(frames)
    print(
        f"BGR->yuv420p: opencv {conversion['opencv']:.2f} ms/frame, "
        f"swscale {conversion['swscale']:.2f} ms/frame"
    )

    cases = [
        ("veryfast threads=1", EncoderSettings(codec="libx264", threads=1), False),
        ("veryfast threads=auto", EncoderSettings(codec="libx264", threads=0), False),
        (
            "superfast threads=1",
            EncoderSettings(codec="libx264", preset="superfast", threads=1),
            False,
        ),
        (
            "ultrafast threads=1",
            EncoderSettings(codec="libx264", preset="ultrafast", threads=1),
            False,
        ),
        ("ultrafast threads=auto", EncoderSettings(codec="libx264", preset="ultrafast"), False),
        ("veryfast threads=1, reopen/segment", EncoderSettings(codec="libx264", threads=1), True),
        ("veryfast threads=auto, reopen/segment", EncoderSettings(codec="libx264"), True),
    ]
    encode(frames[:SEGMENT_FRAMES], cases[0][1], False)  # warm up caches and the library
    print(f"{'case':40} {'best fps':>9} {'median fps':>11} {'cpu ms/frame':>13} {'kbit/s':>8}")
    for name, settings, reopen in cases:
        runs = [encode(frames, settings, reopen) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r.wall_s)
        median_fps = len(frames) / statistics.median(r.wall_s for r in runs)
        cpu_ms = 1000 * min(r.cpu_s for r in runs) / len(frames)
        kbits = best.bytes_out * 8 / (len(frames) / FPS) / 1000
        print(
            f"{name:40} {len(frames) / best.wall_s:9.1f} {median_fps:11.1f} "
            f"{cpu_ms:13.2f} {kbits:8.0f}"
        )


if __name__ == "__main__":
    main()
